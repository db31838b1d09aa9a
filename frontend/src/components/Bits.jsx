import { useState } from "react";
import { useNow } from "../hooks.js";
import { chainRecords, describeNode, formatClock, humanize, proofTone, shortHash, stateTone } from "../format.js";

export function Badge({ tone = "neutral", children, title }) {
  return (
    <span className={`badge badge-${tone}`} title={title}>
      {children}
    </span>
  );
}

export function StateBadge({ state }) {
  return (
    <Badge tone={stateTone(state)}>
      <span data-testid="round-state">{state || "unknown"}</span>
    </Badge>
  );
}

export function ProofBadge({ status }) {
  const label = status == null ? "unknown" : status === "none" ? "no proof required" : humanize(status);
  return <Badge tone={proofTone(status)}>{label}</Badge>;
}

/** The hospital's node: "Online", "Offline (last seen 5 min ago)" or "Never connected". */
export function NodeBadge({ hospital }) {
  if (!hospital) return null;
  const node = describeNode(hospital);
  return (
    <span className="node-status" data-testid="node-status" data-status={hospital.node_status}>
      <Badge tone={node.tone}>{node.label}</Badge>{" "}
      {node.detail && <span className="hint">({node.detail})</span>}
    </span>
  );
}

const LIVE_TEXT = {
  live: "Live",
  connecting: "Connecting…",
  reconnecting: "Reconnecting…",
  refused: "Live updates refused",
  closed: "Offline",
  idle: "No live rounds",
};

export function LiveBadge({ live }) {
  const now = useNow(live.status === "reconnecting" ? 500 : null);
  const seconds = live.retryAt ? Math.max(0, Math.ceil((live.retryAt - now) / 1000)) : null;
  const text =
    live.status === "reconnecting" && seconds ? `Connection lost: retrying in ${seconds} s` : LIVE_TEXT[live.status] || live.status;
  const title =
    live.status === "refused" ? "The portal refused the live connection: log in again to get live updates" : "Live round updates";
  return (
    <span className={`live live-${live.status}`} role="status" aria-live="polite" title={title} data-testid="live-status" data-status={live.status}>
      <span className="dot" aria-hidden="true" />
      {text}
    </span>
  );
}

export function Hash({ value, keep = 8 }) {
  if (!value) return <span className="hint">—</span>;
  return (
    <code className="hash" title={value}>
      {shortHash(value, keep)}
    </code>
  );
}

/** Chain transactions and addresses found in `object`; `empty` when there are none. */
export function ChainRecords({ object, empty = null }) {
  const records = chainRecords(object);
  if (records.length === 0) return empty;
  return (
    <ul className="chain-records">
      {records.map((record) => (
        <li key={`${record.label}-${record.value}`}>
          <span className="chain-label">{record.label}</span>{" "}
          {record.kind === "value" ? <span>{record.value}</span> : <Hash value={record.value} keep={6} />}
        </li>
      ))}
    </ul>
  );
}

/** Numeric metrics as a compact list; `labelOf(key)` names each (the key, humanized, by default). */
export function Metrics({ metrics, only, labelOf = humanize }) {
  if (!metrics || typeof metrics !== "object") return <span className="hint">—</span>;
  const entries = Object.entries(metrics).filter(
    ([key, value]) => (only ? only.includes(key) : true) && (typeof value === "number" || typeof value === "string"),
  );
  if (entries.length === 0) return <span className="hint">—</span>;
  return (
    <dl className="metrics">
      {entries.map(([key, value]) => (
        <div key={key}>
          <dt>{labelOf(key)}</dt>
          <dd>{typeof value === "number" ? (Number.isInteger(value) ? value : value.toFixed(3)) : value}</dd>
        </div>
      ))}
    </dl>
  );
}

export function Progress({ done, total, label }) {
  const fraction = total > 0 ? Math.min(1, done / total) : 0;
  return (
    <div className="progress" role="progressbar" aria-valuemin={0} aria-valuemax={total} aria-valuenow={done} aria-label={label}>
      <div className="progress-bar" style={{ width: `${Math.round(fraction * 100)}%` }} />
      <span className="progress-text">
        {done}/{total}
      </span>
    </div>
  );
}

/** A token shown exactly once, with the warning that it cannot be shown again. */
export function OneTimeToken({ title, token, onDismiss }) {
  const [copied, setCopied] = useState(false);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(token);
      setCopied(true);
    } catch {
      setCopied(false);
    }
  };
  return (
    <section className="one-time-token" aria-label={title} data-testid="one-time-token">
      <h3>{title}</h3>
      <p>
        Shown <strong>once</strong>: copy it into the hospital node&apos;s configuration now. The portal stores only a hash
        and cannot show it again; rotate the token if it is lost.
      </p>
      <div className="token-row">
        <code className="token" data-testid="token-value">
          {token}
        </code>
        <button type="button" className="button secondary" onClick={copy}>
          {copied ? "Copied" : "Copy"}
        </button>
      </div>
      <button type="button" className="button link" onClick={onDismiss}>
        I have stored it — hide the token
      </button>
    </section>
  );
}

/** A button that asks for a second click before doing something that cannot be undone. */
export function ConfirmButton({ children, confirmLabel, onConfirm, disabled, className = "button danger" }) {
  const [asking, setAsking] = useState(false);
  if (!asking) {
    return (
      <button type="button" className={className} disabled={disabled} onClick={() => setAsking(true)}>
        {children}
      </button>
    );
  }
  return (
    <span className="confirm">
      {/* Focus follows the question, so a keyboard user answers it next. */}
      <button
        type="button"
        className={className}
        disabled={disabled}
        autoFocus
        onClick={async () => {
          await onConfirm();
          setAsking(false);
        }}
      >
        {confirmLabel}
      </button>
      <button type="button" className="button link" onClick={() => setAsking(false)}>
        Keep
      </button>
    </span>
  );
}

/** Time left until `to`, ticking every second: `children(clock)` while it runs ("12:34"), `after` once past. */
export function Countdown({ to, children, after }) {
  const now = useNow(1000);
  const left = (new Date(to).getTime() - now) / 1000;
  if (Number.isNaN(left)) return null;
  return (
    <span data-testid="countdown">
      {left > 0 ? children(formatClock(left)) : after}
    </span>
  );
}

export function PageHeader({ title, subtitle, children }) {
  return (
    <header className="page-header">
      <div>
        <h1>{title}</h1>
        {subtitle && <p className="subtitle">{subtitle}</p>}
      </div>
      <div className="page-actions">{children}</div>
    </header>
  );
}
