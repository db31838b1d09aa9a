import { useMemo, useState } from "react";
import { Link } from "react-router-dom";
import { ChainRecords, LiveBadge, PageHeader } from "../components/Bits.jsx";
import { Async, Empty } from "../components/States.jsx";
import { describeEvent } from "../components/Timeline.jsx";
import { chainRecords, formatDate } from "../format.js";
import { useApi, useCoalesced, useLiveSockets } from "../hooks.js";

/** The append-only audit trail (the API lists it newest first), with the chain transactions recorded. */
export function AuditPage() {
  const events = useApi("/api/events/");
  const refetch = useCoalesced(events.reload, 300);
  const live = useLiveSockets(["/ws/rounds/"], { onEvent: refetch, onOpen: refetch });
  const [kind, setKind] = useState("");
  const [chainOnly, setChainOnly] = useState(false);
  const kinds = useMemo(() => [...new Set((events.data || []).map((event) => event.kind))].sort(), [events.data]);
  const shown = (events.data || []).filter(
    (event) => (!kind || event.kind === kind) && (!chainOnly || chainRecords({ ...event.detail }).length > 0),
  );

  return (
    <>
      <PageHeader title="Audit trail" subtitle="Every change of every round, as recorded by the portal and on chain.">
        <LiveBadge live={live} />
      </PageHeader>
      <section className="card">
        <div className="filters">
          <label>
            Kind{" "}
            <select value={kind} onChange={(event) => setKind(event.target.value)}>
              <option value="">all</option>
              {kinds.map((name) => (
                <option key={name} value={name}>
                  {name}
                </option>
              ))}
            </select>
          </label>
          <label className="check">
            <input type="checkbox" checked={chainOnly} onChange={(event) => setChainOnly(event.target.checked)} /> only events with chain transactions
          </label>
        </div>
        <Async
          result={events}
          loadingLabel="Loading the audit trail…"
          isEmpty={() => shown.length === 0}
          empty={<Empty title={events.data?.length ? "No event matches the filters" : "Nothing recorded yet"}>Planning, approving and running rounds records events here.</Empty>}
        >
          {() => (
            <div className="table-wrap">
              <table className="table" data-testid="audit-table">
                <thead>
                  <tr>
                    <th>When</th>
                    <th>Round</th>
                    <th>Actor</th>
                    <th>Event</th>
                    <th>Chain transaction</th>
                  </tr>
                </thead>
                <tbody>
                  {shown.map((event) => {
                    const description = describeEvent(event);
                    return (
                      <tr key={event.id} data-kind={event.kind}>
                        <td>{formatDate(event.created_at)}</td>
                        <td>{event.round ? <Link to={`/rounds/${event.round}`}>Round {event.round}</Link> : <span className="hint">portal</span>}</td>
                        <td>{event.actor}</td>
                        <td>
                          {description.title}
                          {description.subtitle && <div className="hint">{description.subtitle}</div>}
                        </td>
                        <td>
                          <ChainRecords object={event.detail} empty={<span className="hint">—</span>} />
                        </td>
                      </tr>
                    );
                  })}
                </tbody>
              </table>
            </div>
          )}
        </Async>
      </section>
    </>
  );
}
