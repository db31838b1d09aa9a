import { useState } from "react";
import { Link } from "react-router-dom";
import { api, ApiError } from "../api.js";
import { Badge, ConfirmButton, Hash, NodeBadge, OneTimeToken, PageHeader } from "../components/Bits.jsx";
import { Async, Empty, FormError, InlineError } from "../components/States.jsx";
import { useApi, useInterval } from "../hooks.js";

export function HospitalsPage() {
  const hospitals = useApi("/api/hospitals/");
  const [issued, setIssued] = useState(null);
  useInterval(hospitals.reload, 15000);

  return (
    <>
      <PageHeader title="Hospitals" subtitle="Register hospitals and manage their nodes' tokens." />
      {issued && <OneTimeToken title={issued.title} token={issued.token} onDismiss={() => setIssued(null)} />}
      <div className="grid-2 grid-wide-left">
        <section className="card">
          <h2>Registered hospitals</h2>
          <Async
            result={hospitals}
            loadingLabel="Loading hospitals…"
            empty={<Empty title="No hospitals yet">Register the first hospital with the form; its node token is shown once.</Empty>}
          >
            {(list) => <HospitalTable hospitals={list} onIssued={setIssued} onChange={hospitals.reload} />}
          </Async>
        </section>
        <section className="card">
          <h2>Register a hospital</h2>
          <RegisterForm
            onRegistered={(answer) => {
              setIssued({ title: `Node token for ${answer.hospital.name}`, token: answer.node_token });
              hospitals.reload();
            }}
          />
        </section>
      </div>
    </>
  );
}

function HospitalTable({ hospitals, onIssued, onChange }) {
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(null);
  const act = async (hospital, action) => {
    setBusy(hospital.id);
    setError(null);
    try {
      await action();
      onChange();
    } catch (failure) {
      setError(failure);
    } finally {
      setBusy(null);
    }
  };
  return (
    <>
      <InlineError error={error} />
      <div className="table-wrap">
        <table className="table" data-testid="hospital-table">
          <thead>
            <tr>
              <th>Hospital</th>
              <th>Node</th>
              <th>Token</th>
              <th>Chain address</th>
              <th aria-label="Actions" />
            </tr>
          </thead>
          <tbody>
            {hospitals.map((hospital) => (
              <tr key={hospital.id} data-hospital={hospital.slug}>
                <td>
                  <Link to={`/hospitals/${hospital.id}`}>{hospital.name}</Link>
                  <div className="hint">{hospital.slug}</div>
                </td>
                <td>
                  <NodeBadge hospital={hospital} />
                </td>
                <td>{hospital.node_token_active ? <Badge tone="good">Active</Badge> : <Badge tone="bad">Revoked</Badge>}</td>
                <td>{hospital.chain_address ? <Hash value={hospital.chain_address} keep={6} /> : <span className="hint">not set</span>}</td>
                <td className="row-actions">
                  <button
                    type="button"
                    className="button small secondary"
                    disabled={busy === hospital.id}
                    onClick={() =>
                      act(hospital, async () => {
                        const answer = await api.post(`/api/hospitals/${hospital.id}/node-token/`);
                        onIssued({ title: `New node token for ${hospital.name}`, token: answer.token });
                      })
                    }
                  >
                    {hospital.node_token_active ? "Rotate token" : "Issue token"}
                  </button>
                  {hospital.node_token_active && (
                    <ConfirmButton
                      className="button small danger"
                      disabled={busy === hospital.id}
                      confirmLabel="Confirm revoke"
                      onConfirm={() => act(hospital, () => api.delete(`/api/hospitals/${hospital.id}/node-token/`))}
                    >
                      Revoke
                    </ConfirmButton>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </>
  );
}

function RegisterForm({ onRegistered }) {
  const blank = { name: "", admin_username: "", admin_password: "" };
  const [values, setValues] = useState(blank);
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const fieldErrors = error instanceof ApiError ? error.fieldMessages : {};
  const set = (name) => (event) => setValues({ ...values, [name]: event.target.value });

  const submit = async (event) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      onRegistered(await api.post("/api/hospitals/", values));
      setValues(blank);
    } catch (failure) {
      setError(failure);
    } finally {
      setBusy(false);
    }
  };

  return (
    <form className="form" onSubmit={submit} aria-label="Register a hospital">
      <Field label="Hospital name" error={fieldErrors.name}>
        <input name="name" value={values.name} onChange={set("name")} required maxLength={200} />
      </Field>
      <Field label="Admin username" error={fieldErrors.admin_username} hint="The hospital's administrator logs in with it.">
        <input name="admin_username" value={values.admin_username} onChange={set("admin_username")} required maxLength={150} autoComplete="off" />
      </Field>
      <Field label="Admin password" error={fieldErrors.admin_password} hint="At least 8 characters; give it to the admin safely.">
        <input name="admin_password" type="password" value={values.admin_password} onChange={set("admin_password")} required minLength={8} autoComplete="new-password" />
      </Field>
      <FormError error={error} shownFields={["name", "admin_username", "admin_password"]} />
      <button type="submit" className="button primary" disabled={busy}>
        {busy ? "Registering…" : "Register hospital"}
      </button>
    </form>
  );
}

export function Field({ label, error, hint, children }) {
  return (
    <label className={`field${error ? " field-invalid" : ""}`}>
      <span className="field-label">{label}</span>
      {children}
      {hint && !error && <span className="hint">{hint}</span>}
      {error && (
        <span className="field-error" role="alert">
          {error}
        </span>
      )}
    </label>
  );
}
