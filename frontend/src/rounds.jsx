import { Link } from "react-router-dom";
import { useAuth } from "./auth.jsx";
import { Badge, Progress, StateBadge } from "./components/Bits.jsx";
import { DataTable } from "./components/DataTable.jsx";
import { formatDate, formatRelative, formatScore, TERMINAL_STATES } from "./format.js";
import { useApi, useCoalesced, useInterval, useLiveSockets } from "./hooks.js";
import { protectionLabel } from "./labels.js";

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
  const columns = [
    {
      key: "round",
      header: "Round",
      cell: (round) => (
        <>
          <Link to={`/rounds/${round.id}`}>Round {round.id}</Link>
          <div className="hint">updated {formatRelative(round.updated_at)}</div>
        </>
      ),
    },
    { key: "state", header: "State", cell: (round) => <StateBadge state={round.state} /> },
    {
      key: "model",
      header: "Model",
      cell: (round) => (
        <>
          <span className="nowrap">{round.architecture}</span> <span className="hint">v{round.base_version}</span>
        </>
      ),
    },
    !compact && { key: "protection", header: "Protection", cell: (round) => protectionLabel(round.protection) },
    {
      key: "progress",
      header: "Progress",
      cell: (round) => (
        <>
          <Progress done={(round.submitted || []).length} total={activeParticipants(round).length} label={`Round ${round.id}: updates received`} />
          <div className="hint">quorum {round.quorum}</div>
        </>
      ),
    },
    ownHospital && { key: "own", header: "Your hospital", cell: (round) => participationLabel(ownParticipation(round, ownHospital)) },
    !compact && { key: "deadline", header: "Deadline", cell: (round) => formatDate(round.deadline) },
    { key: "result", header: "Result", cell: resultCell },
  ].filter(Boolean);
  return (
    <DataTable
      label="Rounds"
      testId="round-table"
      columns={columns}
      rows={rounds}
      rowKey={(round) => round.id}
      rowProps={(round) => ({ "data-round": round.id })}
    />
  );
}

function resultCell(round) {
  if (!round.result_model) {
    return <span className="hint">{round.state === "FAILED" || round.state === "CANCELLED" ? "none" : "pending"}</span>;
  }
  return (
    <>
      v{round.result_model.version} <span className="hint nowrap">acc {formatScore(round.result_model.metrics?.val_accuracy)}</span>
    </>
  );
}
