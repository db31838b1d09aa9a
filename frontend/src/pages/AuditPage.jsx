import { useMemo, useState } from "react";
import { Link } from "react-router-dom";
import { ChainRecords, LiveBadge, PageHeader } from "../components/Bits.jsx";
import { DataTable } from "../components/DataTable.jsx";
import { Async, Empty } from "../components/States.jsx";
import { describeEvent } from "../components/Timeline.jsx";
import { chainRecords, formatDate } from "../format.js";
import { useApi, useCoalesced, useDocumentTitle, useLiveSockets } from "../hooks.js";

/** The append-only audit trail (the API lists it newest first), with the chain transactions recorded. */
export function AuditPage() {
  useDocumentTitle("Audit trail");
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
          {() => <AuditTable events={shown} />}
        </Async>
      </section>
    </>
  );
}

const COLUMNS = [
  { key: "when", header: "When", cell: (event) => formatDate(event.created_at) },
  {
    key: "round",
    header: "Round",
    cell: (event) => (event.round ? <Link to={`/rounds/${event.round}`}>Round {event.round}</Link> : <span className="hint">portal</span>),
  },
  { key: "actor", header: "Actor", cell: (event) => event.actor },
  {
    key: "event",
    header: "Event",
    cell: (event) => {
      const description = describeEvent(event);
      return (
        <>
          {description.title}
          {description.subtitle && <div className="hint">{description.subtitle}</div>}
        </>
      );
    },
  },
  { key: "chain", header: "Chain transaction", cell: (event) => <ChainRecords object={event.detail} empty={<span className="hint">—</span>} /> },
];

function AuditTable({ events }) {
  return (
    <DataTable
      label="Audit trail"
      testId="audit-table"
      columns={COLUMNS}
      rows={events}
      rowKey={(event) => event.id}
      rowProps={(event) => ({ "data-kind": event.kind })}
    />
  );
}
