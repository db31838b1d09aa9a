import { useEffect, useMemo, useState } from "react";
import { useNavigate } from "react-router-dom";
import { api, ApiError } from "../api.js";
import { NodeBadge, PageHeader } from "../components/Bits.jsx";
import { Empty, ErrorState, FormError, Loading } from "../components/States.jsx";
import { humanize } from "../format.js";
import { useApi } from "../hooks.js";
import { Field } from "./HospitalsPage.jsx";

// Plan a round: base model (architecture and version), hyper-parameters, participants, quorum, deadline and
// aggregation scheme. Choices, defaults and limits come from /api/rounds/plan-options/, so the form follows
// the portal's validation instead of copying it.

function localInputValue(date) {
  const pad = (n) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

export function newestModel(models) {
  return [...(models || [])].sort((a, b) => new Date(b.created_at) - new Date(a.created_at) || b.id - a.id)[0] || null;
}

export function PlanRoundPage() {
  const models = useApi("/api/models/");
  const hospitals = useApi("/api/hospitals/");
  const options = useApi("/api/rounds/plan-options/");
  const failed = [models, hospitals, options].find((result) => result.error && result.data === undefined);

  let body;
  if (failed) body = <ErrorState error={failed.error} onRetry={failed.reload} />;
  else if ([models, hospitals, options].some((result) => result.data === undefined)) body = <Loading label="Loading models, hospitals and settings…" />;
  else if (models.data.length === 0) body = <InitialModelForm onCreated={models.reload} />;
  else if (hospitals.data.length === 0) body = <Empty title="No hospitals registered">Register hospitals before planning a round.</Empty>;
  else body = <PlanForm models={models.data} hospitals={hospitals.data} options={options.data} />;

  return (
    <>
      <PageHeader title="Plan a round" subtitle="The round starts as a draft; approving it opens it to the hospitals." />
      {body}
    </>
  );
}

function PlanForm({ models, hospitals, options }) {
  const navigate = useNavigate();
  const configFields = options.config || {};
  const [baseModel, setBaseModel] = useState(() => String(newestModel(models).id));
  const [config, setConfig] = useState(() => Object.fromEntries(Object.entries(configFields).map(([name, field]) => [name, String(field.default ?? "")])));
  const [participants, setParticipants] = useState(() => new Set(hospitals.filter((h) => h.node_token_active).map((h) => h.slug)));
  const [quorum, setQuorum] = useState(null); // null: follows the number of participants
  const [deadline, setDeadline] = useState(() => localInputValue(new Date(Date.now() + 3600 * 1000)));
  const [aggregation, setAggregation] = useState(options.aggregation?.default || "");
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const fieldErrors = error instanceof ApiError ? error.fieldMessages : {};
  const effectiveQuorum = quorum ?? participants.size;

  const toggle = (slug) => {
    const next = new Set(participants);
    if (next.has(slug)) next.delete(slug);
    else next.add(slug);
    setParticipants(next);
  };

  const submit = async (event) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    const typedConfig = Object.fromEntries(
      Object.entries(config).map(([name, value]) => {
        const type = configFields[name]?.type;
        return [name, type === "integer" ? Number.parseInt(value, 10) : type === "number" ? Number(value) : value];
      }),
    );
    const body = {
      base_model: Number(baseModel),
      config: typedConfig,
      participants: [...participants],
      quorum: Number(effectiveQuorum),
      deadline: new Date(deadline).toISOString(),
    };
    if (aggregation) body.aggregation = aggregation;
    try {
      const round = await api.post("/api/rounds/", body);
      navigate(`/rounds/${round.id}`);
    } catch (failure) {
      setError(failure);
      setBusy(false);
    }
  };

  const shown = ["base_model", "participants", "quorum", "deadline", "aggregation", ...Object.keys(configFields).map((name) => `config.${name}`)];
  return (
    <form className="form plan-form" onSubmit={submit} aria-label="Plan a round">
      <section className="card">
        <h2>Model</h2>
        <Field label="Base model (architecture and version)" error={fieldErrors.base_model}>
          <select name="base_model" value={baseModel} onChange={(event) => setBaseModel(event.target.value)}>
            {[...models].reverse().map((model) => (
              <option key={model.id} value={model.id}>
                {model.architecture} · {model.num_classes} classes · v{model.version}
                {typeof model.metrics?.val_accuracy === "number" ? ` · accuracy ${model.metrics.val_accuracy.toFixed(3)}` : ""}
              </option>
            ))}
          </select>
        </Field>
        <Field label="Aggregation" error={fieldErrors.aggregation}>
          <select name="aggregation" value={aggregation} onChange={(event) => setAggregation(event.target.value)}>
            {(options.aggregation?.choices || []).map((choice) => (
              <option key={choice} value={choice}>
                {choice}
                {choice === options.aggregation.default ? " (portal default)" : ""}
              </option>
            ))}
          </select>
        </Field>
      </section>

      <section className="card">
        <h2>Hyper-parameters</h2>
        <div className="form-grid">
          {Object.entries(configFields).map(([name, field]) => (
            <Field key={name} label={field.label || humanize(name)} error={fieldErrors[`config.${name}`]} hint={field.help}>
              {field.choices ? (
                <select name={`config.${name}`} value={config[name]} onChange={(event) => setConfig({ ...config, [name]: event.target.value })}>
                  {field.choices.map((choice) => (
                    <option key={choice} value={choice}>
                      {choice}
                    </option>
                  ))}
                </select>
              ) : (
                <input
                  name={`config.${name}`}
                  type="number"
                  step={field.type === "integer" ? 1 : "any"}
                  min={field.min_value ?? undefined}
                  max={field.max_value ?? undefined}
                  value={config[name]}
                  onChange={(event) => setConfig({ ...config, [name]: event.target.value })}
                  required
                />
              )}
            </Field>
          ))}
        </div>
      </section>

      <section className="card">
        <h2>Participants</h2>
        <fieldset className={`participant-picker${fieldErrors.participants ? " field-invalid" : ""}`}>
          <legend>Hospitals invited to train</legend>
          {hospitals.map((hospital) => (
            <label key={hospital.slug} className="check">
              <input type="checkbox" name="participants" value={hospital.slug} checked={participants.has(hospital.slug)} onChange={() => toggle(hospital.slug)} />
              <span>{hospital.name}</span>
              <NodeBadge hospital={hospital} />
              {!hospital.node_token_active && <span className="hint">no node token</span>}
            </label>
          ))}
          {fieldErrors.participants && <span className="field-error">{fieldErrors.participants}</span>}
        </fieldset>
        <div className="form-grid">
          <Field label="Quorum (updates needed to aggregate)" error={fieldErrors.quorum}>
            <input name="quorum" type="number" min={1} max={Math.max(1, participants.size)} value={effectiveQuorum} onChange={(event) => setQuorum(event.target.value)} required />
          </Field>
          <Field label="Deadline" error={fieldErrors.deadline} hint="At the deadline the round aggregates if the quorum is met, else fails.">
            <input name="deadline" type="datetime-local" value={deadline} onChange={(event) => setDeadline(event.target.value)} required />
          </Field>
        </div>
      </section>

      <FormError error={error} shownFields={shown} />
      <div className="actions">
        <button type="submit" className="button primary" disabled={busy || participants.size === 0}>
          {busy ? "Planning…" : "Create the draft round"}
        </button>
      </div>
    </form>
  );
}

function InitialModelForm({ onCreated }) {
  const architectures = useApi("/api/architectures/");
  const [architecture, setArchitecture] = useState("");
  const [numClasses, setNumClasses] = useState("2");
  const [seed, setSeed] = useState("0");
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const fieldErrors = error instanceof ApiError ? error.fieldMessages : {};
  const first = useMemo(() => architectures.data?.[0]?.key ?? "", [architectures.data]);
  useEffect(() => {
    if (!architecture && first) setArchitecture(first);
  }, [architecture, first]);

  if (architectures.data === undefined) {
    return architectures.error ? <ErrorState error={architectures.error} onRetry={architectures.reload} /> : <Loading />;
  }
  const submit = async (event) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await api.post("/api/models/", { architecture, num_classes: Number(numClasses), seed: Number(seed) });
      onCreated();
    } catch (failure) {
      setError(failure);
    } finally {
      setBusy(false);
    }
  };
  return (
    <form className="card form" onSubmit={submit} aria-label="Create the initial model">
      <h2>No global model yet</h2>
      <p>A round trains from a base model. Create version 0 of a model line: random weights from a seed.</p>
      <Field label="Architecture" error={fieldErrors.architecture}>
        <select value={architecture} onChange={(event) => setArchitecture(event.target.value)}>
          {architectures.data.map((arch) => (
            <option key={arch.key} value={arch.key}>
              {arch.key} — {arch.description}
            </option>
          ))}
        </select>
      </Field>
      <div className="form-grid">
        <Field label="Number of classes" error={fieldErrors.num_classes}>
          <input type="number" min={2} max={16} value={numClasses} onChange={(event) => setNumClasses(event.target.value)} />
        </Field>
        <Field label="Seed" error={fieldErrors.seed}>
          <input type="number" min={0} value={seed} onChange={(event) => setSeed(event.target.value)} />
        </Field>
      </div>
      <FormError error={error} shownFields={["architecture", "num_classes", "seed"]} />
      <button type="submit" className="button primary" disabled={busy || !architecture}>
        Create model v0
      </button>
    </form>
  );
}
