import { Link } from "react-router-dom";
import { useAuth } from "../auth.jsx";
import { AccuracyChart } from "../components/AccuracyChart.jsx";
import { Hash, PageHeader } from "../components/Bits.jsx";
import { Async, Empty } from "../components/States.jsx";
import { formatDate, formatScore } from "../format.js";
import { useApi } from "../hooks.js";

export function ModelsPage() {
  const { user } = useAuth();
  const coordinator = user.role === "coordinator";
  const models = useApi("/api/models/");
  return (
    <>
      <PageHeader title={coordinator ? "Models" : "Global model"} subtitle="Every version of the global model, each produced by one completed round." />
      <section className="card">
        <h2>Accuracy over rounds</h2>
        <Async result={models} loadingLabel="Loading models…" isEmpty={() => false}>
          {(list) => <AccuracyChart models={list} />}
        </Async>
      </section>
      <section className="card">
        <h2>Versions</h2>
        <Async
          result={models}
          loadingLabel="Loading models…"
          empty={<Empty title="No model yet">{coordinator ? "Plan a round to create version 0." : "The coordinator has not created a model yet."}</Empty>}
        >
          {(list) => (
            <div className="table-wrap">
              <table className="table" data-testid="model-table">
                <thead>
                  <tr>
                    <th>Version</th>
                    <th>Architecture</th>
                    <th>Produced by</th>
                    <th>Val. accuracy</th>
                    <th>Val. AUC</th>
                    <th>Val. loss</th>
                    <th>Weights</th>
                    <th>Created</th>
                  </tr>
                </thead>
                <tbody>
                  {[...list].reverse().map((model) => (
                    <tr key={model.id}>
                      <td>v{model.version}</td>
                      <td>
                        {model.architecture} <span className="hint">{model.num_classes} classes</span>
                      </td>
                      <td>{model.produced_by ? <Link to={`/rounds/${model.produced_by}`}>Round {model.produced_by}</Link> : <span className="hint">initial</span>}</td>
                      <td>{formatScore(model.metrics?.val_accuracy)}</td>
                      <td>{formatScore(model.metrics?.val_auc)}</td>
                      <td>{formatScore(model.metrics?.val_loss)}</td>
                      <td>
                        <Hash value={model.weights_digest} />{" "}
                        <a href={`/api/models/${model.id}/weights/`} download>
                          download
                        </a>
                      </td>
                      <td>{formatDate(model.created_at)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
        </Async>
      </section>
    </>
  );
}
