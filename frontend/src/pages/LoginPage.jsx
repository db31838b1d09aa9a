import { useState } from "react";
import { Navigate, useLocation, useNavigate } from "react-router-dom";
import { useAuth } from "../auth.jsx";
import { InlineError } from "../components/States.jsx";
import { useDocumentTitle } from "../hooks.js";

export function LoginPage() {
  useDocumentTitle("Log in");
  const { user, login, expired } = useAuth();
  const navigate = useNavigate();
  const location = useLocation();
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const target = location.state?.from && location.state.from !== "/login" ? location.state.from : "/";

  if (user) return <Navigate to={target} replace />;

  const submit = async (event) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await login(username, password);
      navigate(target, { replace: true });
    } catch (failure) {
      setError(failure);
    } finally {
      setBusy(false);
    }
  };

  return (
    <main className="login">
      <form className="card login-card" onSubmit={submit} aria-label="Log in">
        <h1 className="brand brand-large">
          <span className="brand-mark" aria-hidden="true">
            +
          </span>
          DecentraHealth
        </h1>
        <p className="subtitle">Federated learning across hospitals: encrypted updates, proofs of training, an on-chain audit trail.</p>
        {expired && <p className="notice">Your session ended. Please log in again.</p>}
        <label>
          Username
          <input name="username" autoComplete="username" value={username} onChange={(e) => setUsername(e.target.value)} required autoFocus />
        </label>
        <label>
          Password
          <input
            name="password"
            type="password"
            autoComplete="current-password"
            value={password}
            onChange={(e) => setPassword(e.target.value)}
            required
          />
        </label>
        <InlineError error={error} />
        <button type="submit" className="button primary" disabled={busy}>
          {busy ? "Logging in…" : "Log in"}
        </button>
      </form>
    </main>
  );
}
