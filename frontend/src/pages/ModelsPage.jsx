import { Link } from "react-router-dom";
import { useAuth } from "../auth.jsx";
import { AccuracyChart } from "../components/AccuracyChart.jsx";
import { Hash, PageHeader } from "../components/Bits.jsx";
import { DataTable } from "../components/DataTable.jsx";
import { Async, Empty } from "../components/States.jsx";
import { formatDate, formatScore } from "../format.js";
import { useApi, useDocumentTitle } from "../hooks.js";

const COLUMNS = [
  { key: "version", header: "Version", cell: (model) => `v${model.version}` },
  {
    key: "architecture",
    header: "Architecture",
    cell: (model) => (
      <>
        <span className="nowrap">{model.architecture}</span> <span className="hint">{model.num_classes} classes</span>
      </>
    ),
  },
  {
    key: "round",
    header: "Produced by",
    cell: (model) => (model.produced_by ? <Link to={`/rounds/${model.produced_by}`}>Round {model.produced_by}</Link> : <span className="hint">initial</span>),
  },
  { key: "accuracy", header: "Val. accuracy", cell: (model) => formatScore(model.metrics?.val_accuracy) },
  { key: "auc", header: "Val. AUC", cell: (model) => formatScore(model.metrics?.val_auc) },
  { key: "loss", header: "Val. loss", cell: (model) => formatScore(model.metrics?.val_loss) },
  { key: "download", header: "Download", cell: (model) => <Downloads model={model} /> },
  { key: "created", header: "Created", cell: (model) => formatDate(model.created_at) },
];

export function ModelsPage() {
  const { user } = useAuth();
  const coordinator = user.role === "coordinator";
  const title = coordinator ? "Models" : "Global model";
  useDocumentTitle(title);
  const models = useApi("/api/models/");
  return (
    <>
      <PageHeader title={title} subtitle="Every version of the global model, each produced by one completed round." />
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
            <>
              <p className="how-to-load">
                Load a download in Python:{" "}
                <code className="snippet">{'model = torch.jit.load("model-vN.pt"); logits = model(images)  # float N x C x H x W in [0, 1]'}</code>
              </p>
              <DataTable label="Model versions" testId="model-table" columns={COLUMNS} rows={[...list].reverse()} rowKey={(model) => model.id} />
            </>
          )}
        </Async>
      </section>
    </>
  );
}

/** The TorchScript file first (it loads without this project's code); the raw weight vector for tools that want it. */
function Downloads({ model }) {
  return (
    <>
      <a className="button small secondary" href={`/api/models/${model.id}/torchscript/`} download={`model-v${model.version}.pt`}>
        Download (TorchScript)
      </a>
      <div className="hint">
        <a href={`/api/models/${model.id}/weights/`} download>
          raw weights (.npy)
        </a>{" "}
        <Hash value={model.weights_digest} />
      </div>
    </>
  );
}
