import { Link } from "react-router-dom";
import { useAuth } from "../auth.jsx";
import { AccuracyChart } from "../components/AccuracyChart.jsx";
import { EpsilonChart } from "../components/EpsilonChart.jsx";
import { ConfirmButton, PageHeader, Progress, StateBadge } from "../components/Bits.jsx";
import { Async, Empty, InlineError } from "../components/States.jsx";
import { useApi, useDocumentTitle, useInterval, usePost } from "../hooks.js";

// Campaigns: rounds the portal runs one after another from one approval. A running campaign is refreshed every
// few seconds, so its rounds and its accuracy curve grow as they complete.
const REFRESH_MS = 3000;

/** The campaign's rounds as the chart's points: one per round, numbered within the campaign. */
export function campaignPoints(campaign) {
  return (campaign.rounds || []).map((row) => ({
    version: row.number,
    produced_by: row.round,
    architecture: "campaign",
    num_classes: "",
    created_at: campaign.updated_at,
    metrics: { val_accuracy: row.val_accuracy, val_auc: row.val_auc },
  }));
}

export function CampaignsPage() {
  const { user } = useAuth();
  const coordinator = user.role === "coordinator";
  useDocumentTitle("Campaigns");
  const campaigns = useApi("/api/campaigns/");
  const running = (campaigns.data || []).some((campaign) => campaign.state === "RUNNING");
  useInterval(campaigns.reload, running ? REFRESH_MS : null);
  return (
    <>
      <PageHeader
        title="Campaigns"
        subtitle="Rounds the portal plans and runs one after another from one approval, until their number or the target AUC."
      />
      <Async
        result={campaigns}
        loadingLabel="Loading campaigns…"
        empty={
          <section className="card">
            <Empty title="No campaign yet">
              {coordinator ? (
                <>
                  Plan one on <Link to="/rounds/new">Plan a round</Link>: tick “Run as a campaign of rounds”.
                </>
              ) : (
                "The coordinator has not planned a campaign your hospital takes part in."
              )}
            </Empty>
          </section>
        }
      >
        {(list) => list.map((campaign) => <CampaignCard key={campaign.id} campaign={campaign} coordinator={coordinator} onDone={campaigns.reload} />)}
      </Async>
    </>
  );
}

function CampaignCard({ campaign, coordinator, onDone }) {
  const completed = campaign.rounds.filter((row) => row.state === "COMPLETED").length;
  return (
    <section className="card" data-testid={`campaign-${campaign.id}`}>
      <h2>
        {campaign.name} <StateBadge state={campaign.state} />
      </h2>
      <Progress done={completed} total={campaign.rounds_planned} label="Rounds completed" />
      <p className="hint">
        {campaign.target_auc != null ? `Stops at validation AUC ${campaign.target_auc}. ` : ""}
        {campaign.reason}
      </p>
      <PrivacySpent campaign={campaign} completed={completed} />
      <AccuracyChart models={campaignPoints(campaign)} />
      <EpsilonChart rounds={campaign.rounds} budget={campaign.epsilon_budget} />
      <p>
        Rounds:{" "}
        {campaign.rounds.map((row, index) => (
          <span key={row.round}>
            {index ? ", " : ""}
            <Link to={`/rounds/${row.round}`}>
              {row.number} (round {row.round}, {row.state.toLowerCase()})
            </Link>
          </span>
        ))}
      </p>
      {coordinator && <CampaignActions campaign={campaign} onDone={onDone} />}
    </section>
  );
}

/** Differential privacy: the epsilon the completed rounds spent, each round's running total, and the budget. */
export function PrivacySpent({ campaign, completed }) {
  const rows = campaign.rounds.filter((row) => row.epsilon != null);
  if (rows.length === 0) return null;
  const spent = completed > 0 ? rows[completed - 1]?.epsilon : 0;
  return (
    <p data-testid="privacy">
      Differential privacy: epsilon spent {spent.toFixed(2)}
      {campaign.epsilon_budget != null ? ` of a budget of ${campaign.epsilon_budget}` : ""} after {completed} round{completed === 1 ? "" : "s"}{" "}
      (running total per round: {rows.map((row) => row.epsilon.toFixed(2)).join(", ")}).
    </p>
  );
}

function CampaignActions({ campaign, onDone }) {
  const { busy, error, post: act } = usePost(onDone);
  return (
    <div className="actions">
      {campaign.state === "DRAFT" && (
        <button type="button" className="button primary" disabled={busy} onClick={() => act(`/api/campaigns/${campaign.id}/approve/`)}>
          Approve campaign
        </button>
      )}
      {["DRAFT", "RUNNING"].includes(campaign.state) && (
        <ConfirmButton disabled={busy} confirmLabel="Stop: plan no further round" onConfirm={() => act(`/api/campaigns/${campaign.id}/stop/`, { reason: "stopped by the coordinator" })}>
          Stop campaign
        </ConfirmButton>
      )}
      {error && <InlineError error={error} prefix="Not done" />}
    </div>
  );
}
