import { useEffect, useRef, useState } from "react";
import { Link, useParams } from "react-router-dom";
import { useAuth } from "../auth.jsx";
import { Badge, ChainRecords, ConfirmButton, Countdown, Hash, LiveBadge, Metrics, PageHeader, ProofBadge, Progress, StateBadge } from "../components/Bits.jsx";
import { DataTable } from "../components/DataTable.jsx";
import { Field } from "../components/Form.jsx";
import { Async, Empty, ErrorState, InlineError, Loading } from "../components/States.jsx";
import { EventList, StageStepper } from "../components/Timeline.jsx";
import { formatBytes, formatDate, formatDuration, formatTime, humanize, TERMINAL_STATES } from "../format.js";
import { useApi, useCoalesced, useDocumentTitle, useLiveSockets, usePost } from "../hooks.js";
import { configFieldApplies, configLabel, protectionLabel } from "../labels.js";
import { activeParticipants } from "../rounds.jsx";

const CHANGEABLE = new Set(["DRAFT", "APPROVED", "OPEN", "COLLECTING"]);

export function RoundPage() {
  const { roundId } = useParams();
  return <RoundView key={roundId} roundId={roundId} />;
}

function RoundView({ roundId }) {
  const { user } = useAuth();
  const coordinator = user.role === "coordinator";
  useDocumentTitle(`Round ${roundId}`);
  const round = useApi(`/api/rounds/${roundId}/`);
  const events = useApi(`/api/rounds/${roundId}/events/`);
  const submissions = useApi(`/api/rounds/${roundId}/submissions/`);
  const [liveEvents, setLiveEvents] = useState([]);
  const arrivals = useRef(0);

  // Refetch everything after websocket events (coalesced); drop the live copies the refetch now covers.
  const refetch = useCoalesced(async () => {
    const covered = arrivals.current;
    await Promise.all([round.reload(), events.reload(), submissions.reload()]);
    setLiveEvents((previous) => previous.filter((event) => event.arrival > covered));
  }, 150);

  // The socket closes once the round is finished, maybe before the events that finished it arrive (the round
  // and its events are fetched side by side): a round that finishes while watched is fetched once more.
  const state = round.data?.state;
  const watchedLive = useRef(false);
  useEffect(() => {
    if (!state) return;
    if (!TERMINAL_STATES.has(state)) watchedLive.current = true;
    else if (watchedLive.current) {
      watchedLive.current = false;
      refetch();
    }
  }, [state, refetch]);

  const finished = round.data && TERMINAL_STATES.has(round.data.state);
  const refused = round.error && [403, 404].includes(round.error.status);
  const live = useLiveSockets(finished || refused ? [] : [`/ws/rounds/${roundId}/`], {
    onEvent: (event) => {
      arrivals.current += 1;
      setLiveEvents((previous) => [...previous, { ...event, arrival: arrivals.current, receivedAt: new Date().toISOString() }]);
      refetch();
    },
    onOpen: refetch,
  });

  if (round.loading && round.data === undefined) return <Loading label={`Loading round ${roundId}…`} />;
  if (round.data === undefined) return <ErrorState error={round.error} onRetry={round.reload} />;
  const data = round.data;

  return (
    <>
      <PageHeader title={`Round ${data.id}`} subtitle={`${data.architecture} from global model v${data.base_version} · planned ${formatDate(data.created_at)}`}>
        <StateBadge state={data.state} />
        {finished ? <span className="hint">finished</span> : <LiveBadge live={live} />}
      </PageHeader>
      {round.error && <InlineError error={round.error} prefix="Could not refresh" />}
      {data.reason && (
        <p className={`notice notice-${data.state === "FAILED" ? "bad" : "muted"}`} role="status">
          {data.state === "FAILED" ? "Failed" : data.state === "CANCELLED" ? "Cancelled" : "Note"}: {data.reason}
        </p>
      )}

      <section className="card">
        <div className="card-title-row">
          <h2>Stages</h2>
          {coordinator ? <CoordinatorActions round={data} onDone={refetch} /> : <ParticipationActions round={data} slug={user.hospital} onDone={refetch} />}
        </div>
        <StageStepper round={data} events={events.data} />
      </section>

      <div className="grid-2">
        <section className="card">
          <h2>Hospitals</h2>
          <HospitalProgress round={data} submissions={submissions.data || []} ownHospital={coordinator ? null : user.hospital} />
        </section>
        <section className="card">
          <h2>Details</h2>
          <RoundDetails round={data} />
        </section>
      </div>

      <section className="card">
        <h2>{coordinator ? "Submissions" : "Your hospital's submission"}</h2>
        <Async
          result={submissions}
          loadingLabel="Loading submissions…"
          empty={<Empty title="No submission yet">{data.state === "COLLECTING" ? "Hospitals are training; updates appear as they arrive." : "Updates are collected once the round is open."}</Empty>}
        >
          {(list) => <SubmissionTable submissions={list} hospitalNames={Object.fromEntries((data.participants || []).map((p) => [p.hospital, p.hospital_name]))} />}
        </Async>
      </section>

      <section className="card">
        <h2>Timeline and audit trail</h2>
        <Async result={events} loadingLabel="Loading events…" isEmpty={() => false}>
          {(list) => <EventList events={list} liveEvents={liveEvents} ownHospital={coordinator ? null : user.hospital} />}
        </Async>
      </section>
    </>
  );
}

/** The coordinator may aggregate early once the quorum has submitted: the round would otherwise wait for
 * every participant or the deadline. */
function canAggregateNow(round) {
  return round.state === "COLLECTING" && (round.submitted || []).length >= round.quorum;
}

function CoordinatorActions({ round, onDone }) {
  const [cancelling, setCancelling] = useState(false);
  const [reason, setReason] = useState("");
  const { busy, error, post: act } = usePost(() => {
    setCancelling(false);
    onDone();
  });
  const submitted = (round.submitted || []).length;

  return (
    <div className="actions">
      {round.state === "DRAFT" && (
        <button type="button" className="button primary" disabled={busy} onClick={() => act(`/api/rounds/${round.id}/approve/`)}>
          Approve round
        </button>
      )}
      {canAggregateNow(round) && (
        <ConfirmButton
          className="button primary"
          disabled={busy}
          confirmLabel={`Aggregate the ${submitted} of ${activeParticipants(round).length} updates now`}
          onConfirm={() => act(`/api/rounds/${round.id}/aggregate/`)}
        >
          Aggregate now
        </ConfirmButton>
      )}
      {CHANGEABLE.has(round.state) && !cancelling && (
        <button type="button" className="button danger" disabled={busy} onClick={() => setCancelling(true)}>
          Cancel round
        </button>
      )}
      {cancelling && (
        <form
          className="inline-form"
          onSubmit={(event) => {
            event.preventDefault();
            act(`/api/rounds/${round.id}/cancel/`, { reason });
          }}
        >
          <Field label="Reason" hint="Recorded in the audit trail.">
            <input value={reason} onChange={(event) => setReason(event.target.value)} maxLength={1000} required placeholder="e.g. wrong hyper-parameters" />
          </Field>
          <button type="submit" className="button danger" disabled={busy}>
            Cancel the round
          </button>
          <button type="button" className="button link" onClick={() => setCancelling(false)}>
            Keep it
          </button>
        </form>
      )}
      <InlineError error={error} />
    </div>
  );
}

function ParticipationActions({ round, slug, onDone }) {
  const { busy, error, post } = usePost(onDone);
  const own = (round.participants || []).find((participant) => participant.hospital === slug);
  if (!own) return null;
  const submitted = (round.submitted || []).includes(slug);
  if (submitted || !CHANGEABLE.has(round.state)) return null;
  const toggle = () => post(`/api/rounds/${round.id}/participation/`, { opted_in: own.opted_out });
  return (
    <div className="actions">
      <button type="button" className={own.opted_out ? "button primary" : "button secondary"} disabled={busy} onClick={toggle}>
        {own.opted_out ? "Opt back in" : "Opt out of this round"}
      </button>
      <InlineError error={error} />
    </div>
  );
}

/** Where one participant is: its node's `status` ("invited", "training", ...) says whether it started. */
export function hospitalProgress(round, participant, submission) {
  const submitted = (round.submitted || []).includes(participant.hospital);
  if (participant.opted_out) return { label: "Opted out", tone: "muted" };
  if (submitted) return { label: submission ? `Update received ${formatTime(submission.created_at)}` : "Update received", tone: "good" };
  switch (round.state) {
    case "DRAFT":
    case "APPROVED":
      return { label: "Waiting for the round to open", tone: "neutral" };
    case "OPEN":
    case "COLLECTING":
      return participant.status === "training" ? { label: "Training locally…", tone: "active" } : { label: "Waiting for node", tone: "neutral" };
    default:
      return { label: "No update", tone: "muted" };
  }
}

function HospitalProgress({ round, submissions, ownHospital }) {
  const participants = round.participants || [];
  const active = activeParticipants(round);
  const submitted = (round.submitted || []).length;
  const bySlug = Object.fromEntries(submissions.map((submission) => [submission.hospital, submission]));
  const rows = ownHospital ? participants.filter((participant) => participant.hospital === ownHospital) : participants;
  return (
    <>
      <Progress done={submitted} total={active.length} label="Updates received" />
      <p className="hint">
        {submitted} of {active.length} taking part have sent their update · quorum {round.quorum}
        {ownHospital ? ` · ${participants.length} hospitals invited` : ""}
      </p>
      {round.state === "COLLECTING" && (
        <p className="notice notice-active">
          <Countdown to={round.deadline} after="Deadline reached: aggregating if the quorum has submitted">
            {(clock) => `Aggregates in ${clock} or when all have submitted`}
          </Countdown>
        </p>
      )}
      <ul className="participants" data-testid="participants">
        {rows.map((participant) => {
          const progress = hospitalProgress(round, participant, bySlug[participant.hospital]);
          const submission = bySlug[participant.hospital];
          return (
            <li key={participant.hospital} data-hospital={participant.hospital} data-progress={progress.tone}>
              <span className="participant-name">{participant.hospital_name}</span>
              <Badge tone={progress.tone}>{progress.label}</Badge>
              {submission && <ProofBadge status={submission.proof_status} />}
            </li>
          );
        })}
      </ul>
    </>
  );
}

/** The training settings that meant something to this round (no proof steps without proofs). */
function appliedSettings(round) {
  const config = round.config || {};
  return Object.keys(config).filter((name) => configFieldApplies(name, { proofScheme: round.proof_scheme, loss: config.loss }));
}

function RoundDetails({ round }) {
  const stageSeconds = Object.entries(round.stage_seconds || {});
  return (
    <dl className="details">
      <dt>Update protection</dt>
      <dd data-testid="protection">{protectionLabel(round.protection)}</dd>
      <dt>Quorum</dt>
      <dd>{round.quorum} hospitals</dd>
      <dt>Deadline</dt>
      <dd>{formatDate(round.deadline)}</dd>
      <dt>Base model</dt>
      <dd>
        <Link to="/models">v{round.base_version}</Link> ({round.architecture})
      </dd>
      <dt>Hyper-parameters</dt>
      <dd>
        <Metrics metrics={round.config} labelOf={configLabel} only={appliedSettings(round)} />
      </dd>
      <dt>Configuration hash</dt>
      <dd>
        <Hash value={round.config_hash} />
      </dd>
      {stageSeconds.length > 0 && (
        <>
          <dt>Time per stage</dt>
          <dd>
            <dl className="metrics">
              {stageSeconds.map(([stage, seconds]) => (
                <div key={stage}>
                  <dt>{humanize(stage)}</dt>
                  <dd>{formatDuration(seconds)}</dd>
                </div>
              ))}
            </dl>
          </dd>
        </>
      )}
      <dt>Result</dt>
      <dd data-testid="round-result">
        {round.result_model ? (
          <>
            Global model v{round.result_model.version}
            <Metrics metrics={round.result_model.metrics} only={["val_accuracy", "val_auc", "val_loss", "samples"]} />
          </>
        ) : (
          <span className="hint">{TERMINAL_STATES.has(round.state) ? "no new model" : "not yet"}</span>
        )}
      </dd>
      <dt>Chain record</dt>
      <dd>
        <ChainRecords object={round} empty={<span className="hint">none recorded</span>} />
      </dd>
    </dl>
  );
}

export function SubmissionTable({ submissions, showRound = false, hospitalNames = {} }) {
  const columns = [
    showRound
      ? { key: "round", header: "Round", cell: (submission) => <Link to={`/rounds/${submission.round}`}>Round {submission.round}</Link> }
      : { key: "hospital", header: "Hospital", cell: (submission) => hospitalNames[submission.hospital] || submission.hospital },
    { key: "received", header: "Received", cell: (submission) => formatDate(submission.created_at) },
    { key: "proof", header: "Proof of training", cell: (submission) => <ProofBadge status={submission.proof_status} /> },
    { key: "chain", header: "Chain", cell: (submission) => <ChainRecords object={submission} empty={<span className="hint">not recorded</span>} /> },
    {
      key: "update",
      header: "Update",
      cell: (submission) => (
        <>
          {formatBytes(submission.blob_size)} · {submission.num_samples ?? "—"} samples
          <div>
            <Hash value={submission.blob_digest} />
          </div>
        </>
      ),
    },
    { key: "metrics", header: "Local metrics", cell: localMetrics },
  ];
  return (
    <DataTable
      label="Submissions"
      testId="submission-table"
      columns={columns}
      rows={submissions}
      rowKey={(submission) => submission.id}
      rowProps={(submission) => ({ "data-submission": submission.id })}
    />
  );
}

function localMetrics(submission) {
  return (
    <>
      <Metrics metrics={submission.metrics} />
      {submission.metrics?.seconds && (
        <div className="hint">
          {Object.entries(submission.metrics.seconds)
            .map(([stage, seconds]) => `${stage} ${formatDuration(seconds)}`)
            .join(" · ")}
        </div>
      )}
    </>
  );
}
