import { ChainRecords } from "./Bits.jsx";
import { Empty } from "./States.jsx";
import { formatBytes, formatDuration, formatTime, humanize, MAIN_STAGES, TERMINAL_STATES } from "../format.js";

const STAGE_LABELS = {
  DRAFT: "Planned",
  APPROVED: "Approved",
  OPEN: "Opened",
  COLLECTING: "Collecting updates",
  AGGREGATING: "Aggregating",
  COMPLETED: "Completed",
  FAILED: "Failed",
  CANCELLED: "Cancelled",
};

/**
 * An audit event from the API ({kind, from_state, to_state, detail, actor, created_at}) or a websocket event
 * ({kind, seq, state, previous, hospital, ...}) as one timeline entry. `ownHospital` (a slug) hides other
 * hospitals' names, and who acted for them, from a hospital admin.
 */
export function describeEvent(event, { ownHospital = null } = {}) {
  const detail = event.detail || {};
  const hospital = event.hospital ?? detail.hospital;
  const elsewhere = Boolean(ownHospital && hospital && hospital !== ownHospital);
  const who = elsewhere ? "Another hospital" : hospital || "A hospital";
  const to = event.to_state ?? event.state;
  const from = event.from_state ?? event.previous;
  const reason = detail.reason ?? event.reason;
  switch (event.kind) {
    case "created":
      return { title: "Round planned", tone: "neutral", to: to || "DRAFT" };
    case "state":
      return {
        title: `${STAGE_LABELS[to] || humanize(to || "state")}${reason ? `: ${reason}` : ""}`,
        subtitle: from ? `${from} → ${to}` : to,
        tone: to === "FAILED" ? "bad" : to === "CANCELLED" ? "muted" : to === "COMPLETED" ? "good" : "active",
        to,
      };
    case "submission": {
      const parts = [];
      if (detail.bytes != null) parts.push(formatBytes(detail.bytes));
      if (event.proof) parts.push(`proof: ${event.proof === "none" ? "not required" : event.proof}`);
      return { title: `${who} submitted its update`, subtitle: parts.join(" · "), tone: "active", hideActor: elsewhere };
    }
    case "participation": {
      const optedIn = event.opted_in ?? detail.opted_in;
      return { title: `${who} opted ${optedIn ? "in" : "out"}`, tone: optedIn ? "active" : "muted", hideActor: elsewhere };
    }
    case "aggregate_early":
      return {
        title: "Aggregating early, on the coordinator's request",
        subtitle: detail.submitted != null ? `${detail.submitted} updates in, quorum ${detail.quorum}` : undefined,
        tone: "active",
      };
    case "model":
      return {
        title: `Global model v${detail.version ?? event.version ?? "?"} published`,
        subtitle: detail.digest ? `weights ${String(detail.digest).slice(0, 12)}…` : undefined,
        tone: "good",
      };
    default:
      return { title: humanize(event.kind || "event"), tone: "neutral" };
  }
}

/** When each main stage was reached, from the audit events. */
export function stageTimes(events) {
  const times = {};
  for (const event of events || []) {
    const to = event.to_state;
    if (to && !times[to]) times[to] = event.created_at;
  }
  return times;
}

export function StageStepper({ round, events }) {
  const times = stageTimes(events);
  const state = round.state;
  const ended = state === "FAILED" || state === "CANCELLED";
  const currentIndex = MAIN_STAGES.indexOf(state);
  const reachedIndex = ended ? Math.max(...MAIN_STAGES.map((stage, index) => (times[stage] ? index : -1))) : currentIndex;
  const stages = ended ? [...MAIN_STAGES.slice(0, reachedIndex + 1), state] : MAIN_STAGES;

  return (
    <ol className="stepper" aria-label="Round stages" data-testid="stage-stepper">
      {stages.map((stage, index) => {
        const done = ended ? true : index < currentIndex || state === "COMPLETED";
        const current = stage === state && !TERMINAL_STATES.has(state);
        const status = stage === "FAILED" ? "failed" : stage === "CANCELLED" ? "cancelled" : current ? "current" : done ? "done" : "pending";
        const next = stages[index + 1];
        const spent = times[stage] && next && times[next] ? (new Date(times[next]) - new Date(times[stage])) / 1000 : null;
        return (
          <li key={stage} className={`step step-${status}`} data-stage={stage} data-status={status}>
            <span className="step-marker" aria-hidden="true">
              {status === "done" ? "✓" : status === "failed" ? "!" : status === "cancelled" ? "×" : index + 1}
            </span>
            <span className="step-label">{STAGE_LABELS[stage] || stage}</span>
            <span className="step-time">{times[stage] ? formatTime(times[stage]) : current ? "now" : "\u00a0"}</span>
            {spent != null && <span className="step-duration">{formatDuration(spent)}</span>}
          </li>
        );
      })}
    </ol>
  );
}

/** The round's events, oldest first; websocket events not yet in the API's list are shown as "live". */
export function EventList({ events, liveEvents = [], ownHospital = null }) {
  const items = [
    ...(events || []).map((event) => ({ key: `e${event.id}`, event, live: false, time: event.created_at })),
    ...liveEvents.map((event) => ({ key: `l${event.seq}-${event.kind}`, event, live: true, time: event.receivedAt })),
  ];
  if (items.length === 0) return <Empty title="No events yet">Every change of the round is recorded here.</Empty>;
  return (
    <ol className="event-list" data-testid="event-list">
      {items.map(({ key, event, live, time }) => {
        const description = describeEvent(event, { ownHospital });
        return (
          <li key={key} className={`event event-${description.tone}`} data-kind={event.kind}>
            <span className="event-dot" aria-hidden="true" />
            <div className="event-body">
              <div className="event-title">
                {description.title}
                {live && <span className="badge badge-active event-live">live</span>}
              </div>
              <div className="event-meta">
                {formatTime(time)}
                {event.actor && !description.hideActor ? ` · by ${event.actor}` : ""}
                {description.subtitle ? ` · ${description.subtitle}` : ""}
              </div>
              <ChainRecords object={{ ...event.detail, ...pickChain(event) }} />
            </div>
          </li>
        );
      })}
    </ol>
  );
}

function pickChain(event) {
  // Websocket events carry their payload at the top level; keep only what may be a chain record.
  const { kind, round, seq, state, previous, reason, hospital, proof, opted_in, detail, id, actor, from_state, to_state, created_at, receivedAt, ...rest } = event;
  return rest;
}
