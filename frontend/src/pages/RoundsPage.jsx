import { Link } from "react-router-dom";
import { useAuth } from "../auth.jsx";
import { LiveBadge, PageHeader } from "../components/Bits.jsx";
import { Async, Empty } from "../components/States.jsx";
import { useDocumentTitle } from "../hooks.js";
import { RoundTable, useLiveRounds } from "../rounds.jsx";

export function RoundsPage() {
  const { user } = useAuth();
  const coordinator = user.role === "coordinator";
  useDocumentTitle("Rounds");
  const { rounds, live } = useLiveRounds();
  return (
    <>
      <PageHeader
        title="Rounds"
        subtitle={coordinator ? "Every training round of the consortium." : "The rounds your hospital is invited to."}
      >
        <LiveBadge live={live} />
        {coordinator && (
          <Link className="button primary" to="/rounds/new">
            Plan a round
          </Link>
        )}
      </PageHeader>
      <section className="card">
        <Async
          result={rounds}
          loadingLabel="Loading rounds…"
          empty={
            <Empty
              title="No rounds yet"
              action={
                coordinator && (
                  <Link className="button primary" to="/rounds/new">
                    Plan the first round
                  </Link>
                )
              }
            >
              {coordinator ? "Plan a round: choose a base model, the hospitals, a quorum and a deadline." : "When the coordinator invites your hospital to a round, it appears here."}
            </Empty>
          }
        >
          {(data) => <RoundTable rounds={data} ownHospital={coordinator ? null : user.hospital} />}
        </Async>
      </section>
    </>
  );
}
