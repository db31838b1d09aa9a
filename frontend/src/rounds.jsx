import { Link } from "react-router-dom";
import { useAuth } from "./auth.jsx";
import { Badge, Progress, StateBadge } from "./components/Bits.jsx";
import { formatDate, formatRelative, formatScore, TERMINAL_STATES } from "./format.js";
import { useApi, useCoalesced, useInterval, useLiveSockets } from "./hooks.js";

// Rounds as lists, kept live: the coordinator listens to every round (/ws/rounds/); a hospital admin may only
// listen to single rounds, so they get one socket per unfinished round and a slow poll to find new ones.

export function useLiveRounds({ onEvent } = {}) {
  const { user } = useAuth();
  const coordinator = user.role === "coordinator";
  const rounds = useApi("/api/rounds/");
  const refetch = useCoalesced(rounds.reload);
  const paths = coordinator
    ? ["/ws/rounds/"]
    : (rounds.data || []).filter((round) => !TERMINAL_STATES.has(round.state)).map((round) => `/ws/rounds/${round.id}/`);
  const live = useLiveSockets(paths, {
    onEvent: (event) => {
      refetch();
      onEvent?.(event);
    },
    onOpen: refetch,
  });
  useInterval(rounds.reload, coordinator ? null : 30000);
  return { rounds, live };
}

export function activeParticipants(round) {
  return (round.participants || []).filter((participant) => !participant.opted_out);
}

export function ownParticipation(round, slug) {
  const participant = (round.participants || []).find((p) => p.hospital === slug);
  if (!participant) return null;
  const submitted = (round.submitted || []).includes(slug);
  return { ...participant, submitted };
}

export function participationLabel(participation) {
  if (!participation) return <span className="hint">not invited</span>;
  if (participation.submitted) return <Badge tone="good">Submitted</Badge>;
  if (participation.opted_out) return <Badge tone="muted">Opted out</Badge>;
  return <Badge tone="active">Taking part</Badge>;
}

export function RoundTable({ rounds, ownHospital = null, compact = false }) {
  return (
    <div className="table-wrap">
      <table className="table" data-testid="round-table">
        <thead>
          <tr>
            <th>Round</th>
            <th>State</th>
            <th>Model</th>
            {!compact && <th>Aggregation</th>}
            <th>Progress</th>
            {ownHospital && <th>Your hospital</th>}
            {!compact && <th>Deadline</th>}
            <th>Result</th>
          </tr>
        </thead>
        <tbody>
          {rounds.map((round) => {
            const active = activeParticipants(round);
            const submitted = (round.submitted || []).length;
            return (
              <tr key={round.id} data-round={round.id}>
                <td>
                  <Link to={`/rounds/${round.id}`}>Round {round.id}</Link>
                  <div className="hint">updated {formatRelative(round.updated_at)}</div>
                </td>
                <td>
                  <StateBadge state={round.state} />
                </td>
                <td>
                  {round.architecture} <span className="hint">v{round.base_version}</span>
                </td>
                {!compact && <td>{round.aggregation || "—"}</td>}
                <td>
                  <Progress done={submitted} total={active.length} label={`Round ${round.id}: updates received`} />
                  <div className="hint">quorum {round.quorum}</div>
                </td>
                {ownHospital && <td>{participationLabel(ownParticipation(round, ownHospital))}</td>}
                {!compact && <td>{formatDate(round.deadline)}</td>}
                <td>
                  {round.result_model ? (
                    <>
                      v{round.result_model.version}{" "}
                      <span className="hint">acc {formatScore(round.result_model.metrics?.val_accuracy)}</span>
                    </>
                  ) : (
                    <span className="hint">{round.state === "FAILED" || round.state === "CANCELLED" ? "none" : "pending"}</span>
                  )}
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}
