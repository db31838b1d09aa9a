import { useState } from "react";
import { Link } from "react-router-dom";
import { AccuracyChart } from "../components/AccuracyChart.jsx";
import { LiveBadge, NodeBadge, PageHeader } from "../components/Bits.jsx";
import { Async, Empty } from "../components/States.jsx";
import { describeEvent } from "../components/Timeline.jsx";
import { formatScore, formatTime, TERMINAL_STATES } from "../format.js";
import { useApi, useCoalesced, useDocumentTitle, useInterval } from "../hooks.js";
import { RoundTable, useLiveRounds } from "../rounds.jsx";

const FEED_LENGTH = 8;

export function DashboardPage() {
  useDocumentTitle("Overview");
  const [feed, setFeed] = useState([]);
  const models = useApi("/api/models/");
  const hospitals = useApi("/api/hospitals/");
  const refetchModels = useCoalesced(models.reload, 500);
  const { rounds, live } = useLiveRounds({
    onEvent: (event) => {
      setFeed((previous) => [{ ...event, receivedAt: new Date().toISOString() }, ...previous].slice(0, FEED_LENGTH));
      if (event.kind === "state" && event.state === "COMPLETED") refetchModels();
    },
  });
  useInterval(hospitals.reload, 30000);

  const activeCount = (rounds.data || []).filter((round) => !TERMINAL_STATES.has(round.state)).length;
  const online = (hospitals.data || []).filter((hospital) => hospital.node_status === "online").length;
  const evaluated = (models.data || []).filter((model) => typeof model.metrics?.val_accuracy === "number");
  const latest = evaluated[evaluated.length - 1];

  return (
    <>
      <PageHeader title="Overview" subtitle="The consortium's rounds, nodes and global model at a glance.">
        <LiveBadge live={live} />
        <Link className="button primary" to="/rounds/new">
          Plan a round
        </Link>
      </PageHeader>

      <div className="stats">
        <Stat label="Rounds in progress" value={rounds.data ? activeCount : "…"} />
        <Stat label="Nodes online" value={hospitals.data ? `${online} / ${hospitals.data.length}` : "…"} />
        <Stat label="Latest validation accuracy" value={latest ? formatScore(latest.metrics.val_accuracy) : "—"} hint={latest ? `model v${latest.version}` : "no evaluated model yet"} />
      </div>

      <section className="card">
        <h2>Latest rounds</h2>
        <Async
          result={rounds}
          loadingLabel="Loading rounds…"
          empty={
            <Empty title="No rounds yet" action={<Link className="button primary" to="/rounds/new">Plan the first round</Link>}>
              A round trains the global model at the hospitals you choose.
            </Empty>
          }
        >
          {(data) => (
            <>
              <RoundTable rounds={data.slice(0, 8)} compact />
              {data.length > 8 && (
                <Link to="/rounds" className="more">
                  All {data.length} rounds →
                </Link>
              )}
            </>
          )}
        </Async>
      </section>

      <div className="grid-2">
        <section className="card">
          <h2>Global model accuracy over rounds</h2>
          <Async result={models} loadingLabel="Loading models…" isEmpty={() => false}>
            {(data) => <AccuracyChart models={data} />}
          </Async>
        </section>
        <div>
          <section className="card">
            <h2>Live activity</h2>
            {feed.length === 0 ? (
              <Empty title="Quiet for now">Changes of any round appear here as they happen.</Empty>
            ) : (
              <ul className="feed" data-testid="live-feed">
                {feed.map((event) => (
                  <li key={`${event.seq}-${event.kind}-${event.round}`}>
                    <span className="hint">{formatTime(event.receivedAt)}</span>{" "}
                    <Link to={`/rounds/${event.round}`}>Round {event.round}</Link>: {describeEvent(event).title}
                  </li>
                ))}
              </ul>
            )}
          </section>
          <section className="card">
            <h2>Hospital nodes</h2>
            <Async
              result={hospitals}
              loadingLabel="Loading hospitals…"
              empty={<Empty title="No hospitals registered" action={<Link className="button primary" to="/hospitals">Register a hospital</Link>} />}
            >
              {(data) => (
                <ul className="node-list">
                  {data.map((hospital) => (
                    <li key={hospital.id}>
                      <Link to={`/hospitals/${hospital.id}`}>{hospital.name}</Link>
                      <NodeBadge hospital={hospital} />
                    </li>
                  ))}
                </ul>
              )}
            </Async>
          </section>
        </div>
      </div>
    </>
  );
}

function Stat({ label, value, hint }) {
  return (
    <div className="card stat">
      <div className="stat-value">{value}</div>
      <div className="stat-label">{label}</div>
      {hint && <div className="hint">{hint}</div>}
    </div>
  );
}
