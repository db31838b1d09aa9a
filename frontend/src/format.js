// Formatting of what the API returns. Every helper tolerates absent values: fields land as components do.

export const DASH = "—";

export function formatDate(value) {
  if (!value) return DASH;
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) return String(value);
  return date.toLocaleString(undefined, { year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit" });
}

export function formatTime(value) {
  if (!value) return DASH;
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) return String(value);
  return date.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit" });
}

export function formatRelative(value, now = Date.now()) {
  if (!value) return "never";
  const seconds = Math.round((now - new Date(value).getTime()) / 1000);
  if (Number.isNaN(seconds)) return String(value);
  if (seconds < 0) return `in ${formatDuration(-seconds)}`;
  if (seconds < 5) return "just now";
  return `${formatDuration(seconds)} ago`;
}

export function formatDuration(seconds) {
  if (seconds == null || Number.isNaN(Number(seconds))) return DASH;
  const s = Number(seconds);
  if (s < 1) return `${Math.round(s * 1000)} ms`;
  if (s < 60) return `${s < 10 ? s.toFixed(1) : Math.round(s)} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86400)} d ${Math.round((s % 86400) / 3600)} h`;
}

export function formatBytes(bytes) {
  if (bytes == null) return DASH;
  const units = ["B", "kB", "MB", "GB"];
  let value = Number(bytes);
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`;
}

export function formatScore(value) {
  return typeof value === "number" && Number.isFinite(value) ? value.toFixed(3) : DASH;
}

export function shortHash(value, keep = 8) {
  if (!value) return DASH;
  const text = String(value);
  return text.length > keep * 2 + 3 ? `${text.slice(0, keep + (text.startsWith("0x") ? 2 : 0))}…${text.slice(-keep)}` : text;
}

export function humanize(key) {
  return String(key).replace(/_/g, " ").replace(/^./, (c) => c.toUpperCase());
}

const TX_HASH = /^0x[0-9a-fA-F]{64}$/;
const ADDRESS = /^0x[0-9a-fA-F]{40}$/;
const CHAIN_KEY = /(^|_)(tx|txs|transaction|transactions|chain|block|contract)(_|$)/i;

export function isTxHash(value) {
  return typeof value === "string" && TX_HASH.test(value);
}

export function isAddress(value) {
  return typeof value === "string" && ADDRESS.test(value);
}

/**
 * Chain records found in an API object, whatever the portal names them (tx_hash, chain_tx, chain: {tx_hash,
 * block}, ...): [{label, value, kind: "tx" | "address" | "value"}]. Nested objects under a chain-like key are
 * flattened one level; unrelated fields are ignored.
 */
export function chainRecords(object) {
  if (!object || typeof object !== "object") return [];
  const records = [];
  for (const [key, value] of Object.entries(object)) {
    if (value == null || value === "") continue;
    if (typeof value === "object" && !Array.isArray(value) && CHAIN_KEY.test(key)) {
      for (const [inner, innerValue] of Object.entries(value)) {
        if (innerValue == null || innerValue === "" || typeof innerValue === "object") continue;
        records.push(record(`${humanize(key)} ${inner.replace(/_/g, " ")}`, innerValue));
      }
    } else if (typeof value !== "object" && (CHAIN_KEY.test(key) || isTxHash(value))) {
      records.push(record(humanize(key), value));
    }
  }
  return records;
}

function record(label, value) {
  const kind = isTxHash(value) ? "tx" : isAddress(value) ? "address" : "value";
  return { label, value: String(value), kind };
}

export function stateTone(state) {
  switch (state) {
    case "COMPLETED":
      return "good";
    case "FAILED":
      return "bad";
    case "CANCELLED":
      return "muted";
    case "DRAFT":
      return "neutral";
    default:
      return "active";
  }
}

export const TERMINAL_STATES = new Set(["COMPLETED", "FAILED", "CANCELLED"]);
export const MAIN_STAGES = ["DRAFT", "APPROVED", "OPEN", "COLLECTING", "AGGREGATING", "COMPLETED"];

export function proofTone(status) {
  const value = String(status || "").toLowerCase();
  if (["verified", "valid", "accepted", "ok"].includes(value)) return "good";
  if (["invalid", "rejected", "failed", "refused"].includes(value)) return "bad";
  if (["none", "", "not_required"].includes(value)) return "muted";
  return "active";
}

/** "12:34", "1:02:03"; a day or more as a duration ("2 d 3 h"): a countdown of whole seconds. */
export function formatClock(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  if (s >= 86400) return formatDuration(s);
  const pad = (n) => String(n).padStart(2, "0");
  const hours = Math.floor(s / 3600);
  const minutes = Math.floor((s % 3600) / 60);
  return hours ? `${hours}:${pad(minutes)}:${pad(s % 60)}` : `${minutes}:${pad(s % 60)}`;
}

/** A hospital's node (`node_status`: "never_connected" | "online" | "offline") in words: {label, tone, detail?}. */
export function describeNode(hospital, now = Date.now()) {
  switch (hospital.node_status) {
    case "online":
      return { label: "Online", tone: "good" };
    case "offline":
      return { label: "Offline", tone: "warn", detail: `last seen ${formatRelative(hospital.node_last_seen_at, now)}` };
    case "never_connected":
      return { label: "Never connected", tone: "muted" };
    default:
      return { label: "Status unknown", tone: "muted" };
  }
}
