import { useState } from "react";
import { Link, useParams } from "react-router-dom";
import { api } from "../api.js";
import { useAuth } from "../auth.jsx";
import { Badge, ChainRecords, Hash, LiveBadge, NodeBadge, OneTimeToken, PageHeader, StateBadge } from "../components/Bits.jsx";
import { NodeTokenButtons } from "../components/NodeTokenButtons.jsx";
import { Async, Empty, ErrorState, InlineError, Loading } from "../components/States.jsx";
import { formatDate } from "../format.js";
import { useApi, useCoalesced, useDocumentTitle, useInterval } from "../hooks.js";
import { ownParticipation, participationLabel, useLiveRounds } from "../rounds.jsx";
import { SubmissionTable } from "./RoundPage.jsx";

const CHANGEABLE = new Set(["DRAFT", "APPROVED", "OPEN", "COLLECTING"]);

export function HospitalPage() {
  const { hospitalId } = useParams();
  return <HospitalView key={hospitalId} hospitalId={hospitalId} />;
}

/** One hospital: its node, its rounds and its submissions. A hospital admin sees only their own. */
function HospitalView({ hospitalId }) {
  const { user } = useAuth();
  const coordinator = user.role === "coordinator";
  const hospital = useApi(`/api/hospitals/${hospitalId}/`);
  useDocumentTitle(hospital.data?.name ?? "Hospital");
  const submissions = useApi(`/api/hospitals/${hospitalId}/submissions/`);
  const refetchSubmissions = useCoalesced(submissions.reload, 300);
  const { rounds, live } = useLiveRounds({ onEvent: refetchSubmissions });
  // Node status changes when the node calls the portal, which sends no event: poll it.
  useInterval(hospital.reload, 15000);

  if (hospital.loading && hospital.data === undefined) return <Loading label="Loading hospital…" />;
  if (hospital.data === undefined) {
    const refused = [403, 404].includes(hospital.error?.status);
    return (
      <ErrorState
        title={refused ? "Refused: not your hospital" : undefined}
        error={
          refused && !coordinator
            ? new Error(`You can only see your own hospital, ${user.hospitalName}.`)
            : hospital.error
        }
        onRetry={refused ? undefined : hospital.reload}
      />
    );
  }
  const data = hospital.data;
  const invited = (rounds.data || []).filter((round) => ownParticipation(round, data.slug));

  return (
    <>
      <PageHeader title={data.name} subtitle={coordinator ? `Hospital · ${data.slug}` : "Your hospital"}>
        <LiveBadge live={live} />
      </PageHeader>
      {hospital.error && <InlineError error={hospital.error} prefix="Could not refresh" />}

      <div className="grid-2">
        <section className="card" data-testid="node-card">
          <h2>Node</h2>
          <NodeCard hospital={data} coordinator={coordinator} onChange={hospital.reload} />
        </section>
        <section className="card">
          <h2>Rounds</h2>
          <Async
            result={rounds}
            loadingLabel="Loading rounds…"
            isEmpty={() => invited.length === 0}
            empty={<Empty title="Not invited to any round yet">Rounds the coordinator invites this hospital to appear here.</Empty>}
          >
            {() => <InvitedRounds rounds={invited} slug={data.slug} onChange={rounds.reload} />}
          </Async>
        </section>
      </div>

      <section className="card">
        <h2>Submissions</h2>
        <Async
          result={submissions}
          loadingLabel="Loading submissions…"
          empty={<Empty title="No submissions yet">Each round this hospital's node trains in sends one encrypted update, shown here with its proof and chain status.</Empty>}
        >
          {(list) => <SubmissionTable submissions={list} showRound />}
        </Async>
      </section>
    </>
  );
}

function NodeCard({ hospital, coordinator, onChange }) {
  const [token, setToken] = useState(null);
  return (
    <>
      <dl className="details">
        <dt>Status</dt>
        <dd>
          <NodeBadge hospital={hospital} />
        </dd>
        <dt>Node token</dt>
        <dd>{hospital.node_token_active ? <Badge tone="good">Active</Badge> : <Badge tone="bad">None: the node cannot connect</Badge>}</dd>
        <dt>Chain address</dt>
        <dd>{hospital.chain_address ? <Hash value={hospital.chain_address} keep={6} /> : <span className="hint">not set</span>}</dd>
        <dt>Registered</dt>
        <dd>{formatDate(hospital.created_at)}</dd>
      </dl>
      <ChainRecords object={{ ...hospital, chain_address: undefined }} />
      <NodeTokenButtons hospital={hospital} canRevoke={coordinator} onToken={setToken} onChange={onChange} />
      <p className="hint">Rotating issues a new token; the old one stops working immediately.</p>
      {token && <OneTimeToken title={`New node token for ${hospital.name}`} token={token} onDismiss={() => setToken(null)} />}
    </>
  );
}

function InvitedRounds({ rounds, slug, onChange }) {
  return (
    <ul className="invited-rounds">
      {rounds.map((round) => (
        <InvitedRound key={round.id} round={round} slug={slug} onChange={onChange} />
      ))}
    </ul>
  );
}

function InvitedRound({ round, slug, onChange }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const participation = ownParticipation(round, slug);
  const canChange = CHANGEABLE.has(round.state) && !participation.submitted;
  const toggle = async () => {
    setBusy(true);
    setError(null);
    try {
      await api.post(`/api/rounds/${round.id}/participation/`, { hospital: slug, opted_in: participation.opted_out });
      onChange();
    } catch (failure) {
      setError(failure);
    } finally {
      setBusy(false);
    }
  };
  return (
    <li data-round={round.id}>
      <div className="invited-round-row">
        <Link to={`/rounds/${round.id}`}>Round {round.id}</Link>
        <StateBadge state={round.state} />
        {participationLabel(participation)}
        {canChange && (
          <button type="button" className="button small secondary" disabled={busy} onClick={toggle}>
            {participation.opted_out ? "Opt in" : "Opt out"}
          </button>
        )}
      </div>
      <InlineError error={error} />
    </li>
  );
}
