import { useState } from "react";
import { api } from "../api.js";
import { ConfirmButton } from "./Bits.jsx";
import { InlineError } from "./States.jsx";

/**
 * Issue, rotate or revoke a hospital's node token. Rotating and revoking both cut off the running node at
 * once, so both ask for confirmation; issuing (no active token) does not. `onToken(token)` receives a new
 * token to show once, or null once revoked (a token still on screen is then dead); `onChange()` after any change.
 */
export function NodeTokenButtons({ hospital, canRevoke, small = false, onToken, onChange }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const size = small ? " small" : "";
  const path = `/api/hospitals/${hospital.id}/node-token/`;

  const run = async (action) => {
    setBusy(true);
    setError(null);
    try {
      await action();
      onChange();
    } catch (failure) {
      setError(failure);
    } finally {
      setBusy(false);
    }
  };
  const issue = () => run(async () => onToken((await api.post(path)).token));
  const revoke = () =>
    run(async () => {
      await api.delete(path);
      onToken(null);
    });

  return (
    <>
      <div className="actions">
        {hospital.node_token_active ? (
          <ConfirmButton className={`button secondary${size}`} disabled={busy} confirmLabel="Confirm rotation" onConfirm={issue}>
            Rotate token
          </ConfirmButton>
        ) : (
          <button type="button" className={`button secondary${size}`} disabled={busy} onClick={issue}>
            Issue token
          </button>
        )}
        {canRevoke && hospital.node_token_active && (
          <ConfirmButton className={`button danger${size}`} disabled={busy} confirmLabel="Confirm revoke" onConfirm={revoke}>
            Revoke token
          </ConfirmButton>
        )}
      </div>
      <InlineError error={error} />
    </>
  );
}
