import { useCallback, useEffect, useId, useMemo, useRef, useState } from "react";
import { useNavigate } from "react-router-dom";
import { api, ApiError } from "../api.js";
import { NodeBadge, PageHeader } from "../components/Bits.jsx";
import { ChoiceSelect, Field, FieldError } from "../components/Form.jsx";
import { Empty, ErrorState, FormError, Loading } from "../components/States.jsx";
import { describeNode, formatRelative } from "../format.js";
import { useApi, useDocumentTitle, useDraft } from "../hooks.js";
import {
  CONFIG_FIELDS,
  configFieldApplies,
  configLabel,
  PROOF_SCHEME,
  PROTECTION,
  SERVER_LR,
  SERVER_STRATEGY,
  serverLrParameter,
} from "../labels.js";

// Plan a round, or a campaign of rounds: base model (architecture and version), update protection, proofs,
// training settings, participants, quorum, and the deadline (a round) or the schedule (a campaign: how many
// rounds, how long each collects, and an optional target AUC to stop at). Choices, defaults and limits come from /api/rounds/plan-options/, so the
// form follows the portal's validation instead of copying it; the form checks them itself too, to show every
// problem at once beside its field.

export const DRAFT_KEY = "dh.draft.plan-round";

function localInputValue(date) {
  const pad = (n) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

export function newestModel(models) {
  return [...(models || [])].sort((a, b) => new Date(b.created_at) - new Date(a.created_at) || b.id - a.id)[0] || null;
}

export function PlanRoundPage() {
  useDocumentTitle("Plan a round");
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

/** The plan as the portal suggests it: newest model, default settings, the hospitals whose node is online. */
function freshPlan(models, hospitals, options) {
  return {
    baseModel: String(newestModel(models).id),
    protection: options.protection?.default ?? "",
    proofScheme: options.proof_scheme?.default ?? "",
    serverStrategy: options.server_strategy?.default ?? "",
    serverLr: "",
    dpNoise: "",
    epsilonBudget: "",
    config: Object.fromEntries(Object.entries(options.config || {}).map(([name, field]) => [name, String(field.default ?? "")])),
    participants: hospitals.filter((hospital) => hospital.node_status === "online").map((hospital) => hospital.slug),
    quorum: null, // null: follows the ticked online hospitals until the coordinator sets it
    deadline: localInputValue(new Date(Date.now() + 3600 * 1000)),
    campaign: false,
    campaignName: "",
    rounds: "10",
    roundMinutes: "30",
    targetAuc: "",
  };
}

/**
 * A stored draft fitted to what the portal offers now: a model, hospital, choice or setting it no longer
 * knows gives way to the fresh plan's.
 */
function fitDraft(saved, fresh, models, hospitals, options) {
  const oneOf = (allowed, value, fallback) => (allowed.includes(value) ? value : fallback);
  return {
    baseModel: oneOf(models.map((model) => String(model.id)), saved.baseModel, fresh.baseModel),
    protection: oneOf(options.protection?.choices || [], saved.protection, fresh.protection),
    proofScheme: oneOf(options.proof_scheme?.choices || [], saved.proofScheme, fresh.proofScheme),
    serverStrategy: oneOf(Object.keys(options.server_strategy?.choices || {}), saved.serverStrategy, fresh.serverStrategy),
    serverLr: typeof saved.serverLr === "string" ? saved.serverLr : fresh.serverLr,
    dpNoise: typeof saved.dpNoise === "string" ? saved.dpNoise : fresh.dpNoise,
    epsilonBudget: typeof saved.epsilonBudget === "string" ? saved.epsilonBudget : fresh.epsilonBudget,
    config: Object.fromEntries(
      Object.entries(fresh.config).map(([name, value]) => [name, typeof saved.config?.[name] === "string" ? saved.config[name] : value]),
    ),
    participants: (saved.participants || []).filter((slug) => hospitals.some((hospital) => hospital.slug === slug)),
    quorum: saved.quorum ?? null,
    deadline: typeof saved.deadline === "string" ? saved.deadline : fresh.deadline,
    campaign: saved.campaign === true,
    ...Object.fromEntries(
      ["campaignName", "rounds", "roundMinutes", "targetAuc"].map((name) => [name, typeof saved[name] === "string" ? saved[name] : fresh[name]]),
    ),
  };
}

/** The training settings that apply to the plan as chosen (proof-only ones are hidden without proofs). */
function shownConfigFields(values) {
  return Object.keys(values.config).filter((name) => configFieldApplies(name, { proofScheme: values.proofScheme, loss: values.config.loss }));
}

function defaultQuorum(values, hospitals) {
  const online = hospitals.filter((hospital) => values.participants.includes(hospital.slug) && hospital.node_status === "online");
  return Math.max(1, online.length);
}

function numberProblem(text, { type, min_value: min, max_value: max }) {
  if (String(text).trim() === "") return "Required.";
  const value = Number(text);
  if (!Number.isFinite(value)) return "Enter a number.";
  if (type === "integer" && !Number.isInteger(value)) return "Enter a whole number.";
  if (min != null && value < min) return `At least ${min}.`;
  if (max != null && value > max) return `At most ${max}.`;
  return null;
}

/** The form's own checks: {field: message}, named as the API names fields so both show in the same place. */
function validatePlan(values, { configFields, quorum }) {
  const errors = {};
  for (const name of shownConfigFields(values)) {
    const { type } = configFields[name];
    const problem = type === "choice" || type === "boolean" ? null : numberProblem(values.config[name], configFields[name]);
    if (problem) errors[`config.${name}`] = problem;
  }
  if (hasServerLr(values) && String(values.serverLr).trim() !== "") {
    const problem = numberProblem(values.serverLr, { type: "number" });
    if (problem) errors.server_strategy = problem;
    else if (Number(values.serverLr) <= 0) errors.server_strategy = "Above 0.";
  }
  if (String(values.dpNoise).trim() !== "") {
    const problem = numberProblem(values.dpNoise, { type: "number", min_value: 0, max_value: 100 });
    if (problem) errors.dp_noise_multiplier = problem;
    else if (Number(values.dpNoise) > 0 && values.protection === "plaintext") errors.dp_noise_multiplier = "Needs encrypted aggregation: its noise is added by the key parties.";
  }
  if (values.participants.length === 0) errors.participants = "Tick at least one hospital to invite.";
  const quorumProblem = numberProblem(quorum, { type: "integer", min_value: 1, max_value: Math.max(1, values.participants.length) });
  if (quorumProblem) errors.quorum = quorumProblem;
  if (values.campaign) return { ...errors, ...validateSchedule(values) };
  const deadline = new Date(values.deadline).getTime();
  if (!values.deadline) errors.deadline = "Choose a deadline.";
  else if (Number.isNaN(deadline)) errors.deadline = "Enter a date and time.";
  else if (deadline <= Date.now()) errors.deadline = "The deadline must be in the future.";
  return errors;
}

/** A campaign's schedule, named as the API names its fields (round_seconds is entered in minutes). */
function validateSchedule(values) {
  const errors = {};
  if (!values.campaignName.trim()) errors.name = "Name the campaign.";
  const rounds = numberProblem(values.rounds, { type: "integer", min_value: 1, max_value: 1000 });
  if (rounds) errors.rounds = rounds;
  const minutes = numberProblem(values.roundMinutes, { type: "number", min_value: 1, max_value: 30 * 24 * 60 });
  if (minutes) errors.round_seconds = minutes;
  if (String(values.targetAuc).trim() !== "") {
    const auc = numberProblem(values.targetAuc, { type: "number", min_value: 0, max_value: 1 });
    if (auc) errors.target_auc = auc;
  }
  if (String(values.epsilonBudget).trim() !== "") {
    const budget = numberProblem(values.epsilonBudget, { type: "number", min_value: 0 });
    if (budget) errors.epsilon_budget = budget;
    else if (!(Number(values.dpNoise) > 0)) errors.epsilon_budget = "A privacy budget needs a noise multiplier above 0.";
  }
  return errors;
}

function planBody(values, { configFields, quorum }) {
  const typed = (name) => {
    const { type } = configFields[name];
    if (type === "boolean") return values.config[name] === "true";
    return type === "integer" ? Number.parseInt(values.config[name], 10) : type === "number" ? Number(values.config[name]) : values.config[name];
  };
  const body = {
    base_model: Number(values.baseModel),
    config: Object.fromEntries(shownConfigFields(values).map((name) => [name, typed(name)])),
    participants: values.participants,
    quorum: Number(quorum),
  };
  if (values.campaign) {
    body.name = values.campaignName.trim();
    body.rounds = Number.parseInt(values.rounds, 10);
    body.round_seconds = Math.round(Number(values.roundMinutes) * 60);
    if (String(values.targetAuc).trim() !== "") body.target_auc = Number(values.targetAuc);
    if (String(values.epsilonBudget).trim() !== "") body.epsilon_budget = Number(values.epsilonBudget);
  } else {
    body.deadline = new Date(values.deadline).toISOString();
  }
  if (values.protection) body.protection = values.protection;
  if (String(values.dpNoise).trim() !== "" && Number(values.dpNoise) > 0) body.dp_noise_multiplier = Number(values.dpNoise);
  if (values.proofScheme) body.proof_scheme = values.proofScheme;
  if (hasServerLr(values)) {
    body.server_strategy = { name: values.serverStrategy };
    if (String(values.serverLr).trim() !== "") body.server_strategy[serverLrParameter(values.serverStrategy)] = Number(values.serverLr);
  }
  return body;
}

/** A strategy other than FedAvg: it has a server learning rate, and the plan names it. */
function hasServerLr(values) {
  return Boolean(values.serverStrategy) && values.serverStrategy !== "fedavg";
}

function PlanForm({ models, hospitals, options }) {
  const navigate = useNavigate();
  const configFields = options.config || {};
  const initial = useCallback(() => freshPlan(models, hospitals, options), [models, hospitals, options]);
  const restore = (saved) => fitDraft(saved, initial(), models, hospitals, options);
  const { values, update, restoredAt, clear, discard } = useDraft(DRAFT_KEY, initial, restore);
  const [errors, setErrors] = useState({});
  const [error, setError] = useState(null); // the API's answer, when it refused the plan
  const [busy, setBusy] = useState(false);
  const [attempts, setAttempts] = useState(0);
  const form = useRef(null);
  const quorum = values.quorum ?? String(defaultQuorum(values, hospitals));
  const shownConfig = shownConfigFields(values);

  // After a refused submit, focus the first field to fix, so keyboard and screen reader users land on it.
  useEffect(() => {
    if (attempts) form.current?.querySelector('[aria-invalid="true"]')?.focus();
  }, [attempts]);

  const edit = (field, changes) => {
    update(changes);
    setErrors(({ [field]: _fixed, ...rest }) => rest);
  };
  const toggle = (slug) =>
    edit("participants", {
      participants: values.participants.includes(slug) ? values.participants.filter((s) => s !== slug) : [...values.participants, slug],
    });

  const submit = async (event) => {
    event.preventDefault();
    setError(null);
    const problems = validatePlan(values, { configFields, quorum });
    setErrors(problems);
    if (Object.keys(problems).length > 0) {
      setAttempts((n) => n + 1);
      return;
    }
    setBusy(true);
    try {
      const body = planBody(values, { configFields, quorum });
      if (values.campaign) {
        await api.post("/api/campaigns/", body);
        clear();
        navigate("/campaigns");
      } else {
        const round = await api.post("/api/rounds/", body);
        clear();
        navigate(`/rounds/${round.id}`);
      }
    } catch (failure) {
      // The draft stays stored: a plan refused or lost to an outage survives a reload.
      setError(failure);
      setErrors(failure instanceof ApiError ? failure.fieldMessages : {});
      setAttempts((n) => n + 1);
      setBusy(false);
    }
  };

  const schedule = values.campaign ? ["name", "rounds", "round_seconds", "target_auc", "epsilon_budget"] : ["deadline"];
  const shown = ["base_model", "protection", "proof_scheme", "server_strategy", "dp_noise_multiplier", "participants", "quorum", ...schedule, ...shownConfig.map((name) => `config.${name}`)];
  return (
    <form className="form plan-form" onSubmit={submit} aria-label="Plan a round" noValidate ref={form}>
      {restoredAt && (
        <p className="notice notice-active" data-testid="draft-restored">
          Restored the plan you had not sent ({formatRelative(restoredAt)}).{" "}
          <button type="button" className="button link" onClick={discard}>
            Start over
          </button>
        </p>
      )}
      <section className="card">
        <h2>Model and protection</h2>
        <div className="form-grid form-grid-wide">
          <Field label="Base model" hint="The global model version the hospitals start training from." error={errors.base_model}>
            <select name="base_model" value={values.baseModel} onChange={(event) => edit("base_model", { baseModel: event.target.value })}>
              {[...models].reverse().map((model) => (
                <option key={model.id} value={model.id}>
                  {model.architecture} · {model.num_classes} classes · v{model.version}
                  {typeof model.metrics?.val_accuracy === "number" ? ` · accuracy ${model.metrics.val_accuracy.toFixed(3)}` : ""}
                </option>
              ))}
            </select>
          </Field>
          {options.protection && (
            <Field label={PROTECTION.label} hint={PROTECTION.hint} error={errors.protection}>
              <ChoiceSelect
                name="protection"
                choices={options.protection.choices}
                labels={PROTECTION.choices}
                portalDefault={options.protection.default}
                value={values.protection}
                onChange={(event) => edit("protection", { protection: event.target.value })}
              />
            </Field>
          )}
          {options.proof_scheme && (
            <Field label={PROOF_SCHEME.label} hint={PROOF_SCHEME.hint} error={errors.proof_scheme}>
              <ChoiceSelect
                name="proof_scheme"
                choices={options.proof_scheme.choices}
                labels={PROOF_SCHEME.choices}
                portalDefault={options.proof_scheme.default}
                value={values.proofScheme}
                onChange={(event) => edit("proof_scheme", { proofScheme: event.target.value })}
              />
            </Field>
          )}
          {options.server_strategy && (
            <Field label={SERVER_STRATEGY.label} hint={SERVER_STRATEGY.hint}>
              <ChoiceSelect
                name="server_strategy"
                choices={Object.keys(options.server_strategy.choices)}
                labels={SERVER_STRATEGY.choices}
                portalDefault={options.server_strategy.default}
                value={values.serverStrategy}
                onChange={(event) => edit("server_strategy", { serverStrategy: event.target.value })}
              />
            </Field>
          )}
          <Field
            label="Differential privacy noise"
            hint="Optional: the key parties add Gaussian noise of this many times the update norm bound to each opened sum, inside the MPC (each node clips its update to the bound). Empty or 0: none."
            error={errors.dp_noise_multiplier}
          >
            <input name="dp_noise_multiplier" type="number" inputMode="decimal" min={0} max={100} step="any" placeholder="none" value={values.dpNoise} onChange={(event) => edit("dp_noise_multiplier", { dpNoise: event.target.value })} />
          </Field>
          {options.server_strategy && hasServerLr(values) && (
            <Field label={SERVER_LR.label} hint={SERVER_LR.hint} error={errors.server_strategy}>
              <input
                name="server_lr"
                type="number"
                step="any"
                min="0"
                placeholder={String(options.server_strategy.choices[values.serverStrategy]?.[serverLrParameter(values.serverStrategy)] ?? "")}
                value={values.serverLr}
                onChange={(event) => edit("server_strategy", { serverLr: event.target.value })}
              />
            </Field>
          )}
        </div>
      </section>

      <section className="card">
        <h2>Training</h2>
        <div className="form-grid">
          {shownConfig.map((name) => (
            <ConfigField
              key={name}
              name={name}
              field={configFields[name]}
              value={values.config[name]}
              error={errors[`config.${name}`]}
              onChange={(value) => edit(`config.${name}`, { config: { ...values.config, [name]: value } })}
            />
          ))}
        </div>
      </section>

      <section className="card">
        <h2>Participants</h2>
        <ParticipantPicker hospitals={hospitals} chosen={values.participants} error={errors.participants} onToggle={toggle} />
        <div className="form-grid">
          <Field
            label="Quorum"
            hint="Updates needed before the round may aggregate. Follows the ticked online hospitals until you change it."
            error={errors.quorum}
          >
            <input
              name="quorum"
              type="number"
              inputMode="numeric"
              min={1}
              max={Math.max(1, values.participants.length)}
              value={quorum}
              onChange={(event) => edit("quorum", { quorum: event.target.value })}
            />
          </Field>
          {!values.campaign && (
            <Field label="Deadline" hint="At the deadline the round aggregates if the quorum has submitted, else fails." error={errors.deadline}>
              <input name="deadline" type="datetime-local" value={values.deadline} onChange={(event) => edit("deadline", { deadline: event.target.value })} />
            </Field>
          )}
        </div>
      </section>

      <ScheduleSection values={values} errors={errors} edit={edit} />

      <FormError error={error} fieldErrors={errors} shownFields={shown} />
      <div className="actions">
        <button type="submit" className="button primary" disabled={busy}>
          {busy ? "Planning…" : values.campaign ? "Create the draft campaign" : "Create the draft round"}
        </button>
      </div>
    </form>
  );
}

/** One round, or a campaign: rounds planned and approved by the portal one after another from one approval. */
function ScheduleSection({ values, errors, edit }) {
  return (
    <section className="card">
      <h2>Schedule</h2>
      <div className="check">
        <input id="plan-campaign" type="checkbox" name="campaign" checked={values.campaign} onChange={(event) => edit("campaign", { campaign: event.target.checked })} />
        <label htmlFor="plan-campaign">Run as a campaign of rounds</label>
        <span className="check-detail hint">
          One approval runs them all: each round starts from the model the previous one produced, until the rounds are done or the target AUC is reached.
        </span>
      </div>
      {values.campaign && (
        <div className="form-grid">
          <Field label="Campaign name" hint="How the Campaigns page and the audit trail name it." error={errors.name}>
            <input name="name" value={values.campaignName} onChange={(event) => edit("name", { campaignName: event.target.value })} />
          </Field>
          <Field label="Rounds" hint="At most this many rounds." error={errors.rounds}>
            <input name="rounds" type="number" inputMode="numeric" min={1} max={1000} step={1} value={values.rounds} onChange={(event) => edit("rounds", { rounds: event.target.value })} />
          </Field>
          <Field label="Minutes per round" hint="How long each round collects updates before it aggregates (or fails without its quorum)." error={errors.round_seconds}>
            <input name="round_minutes" type="number" inputMode="decimal" min={1} step="any" value={values.roundMinutes} onChange={(event) => edit("round_seconds", { roundMinutes: event.target.value })} />
          </Field>
          <Field label="Target validation AUC" hint="Optional: stop once the global model's validation AUC reaches it." error={errors.target_auc}>
            <input name="target_auc" type="number" inputMode="decimal" min={0} max={1} step="any" placeholder="none" value={values.targetAuc} onChange={(event) => edit("target_auc", { targetAuc: event.target.value })} />
          </Field>
          <Field label="Privacy budget (epsilon)" hint="Optional, with differential privacy noise: a plan whose rounds would spend more epsilon is refused, with the figures." error={errors.epsilon_budget}>
            <input name="epsilon_budget" type="number" inputMode="decimal" min={0} step="any" placeholder="none" value={values.epsilonBudget} onChange={(event) => edit("epsilon_budget", { epsilonBudget: event.target.value })} />
          </Field>
        </div>
      )}
    </section>
  );
}

/** One training setting: a choice as a select, a number as a number input, with its words from labels.js. */
function ConfigField({ name, field, value, error, onChange }) {
  const words = CONFIG_FIELDS[name] || {};
  const props = { name: `config.${name}`, value, onChange: (event) => onChange(event.target.value) };
  return (
    <Field label={configLabel(name)} hint={words.hint} error={error}>
      {field.type === "boolean" ? (
        <input type="checkbox" name={props.name} checked={value === "true"} onChange={(event) => onChange(String(event.target.checked))} />
      ) : field.choices ? (
        <ChoiceSelect choices={field.choices} labels={words.choices} {...props} />
      ) : (
        <input
          type="number"
          inputMode={field.type === "integer" ? "numeric" : "decimal"}
          step={field.type === "integer" ? 1 : "any"}
          min={field.min_value ?? undefined}
          max={field.max_value ?? undefined}
          {...props}
        />
      )}
    </Field>
  );
}

function ParticipantPicker({ hospitals, chosen, error, onToggle }) {
  const errorId = useId();
  const notOnline = hospitals.filter((hospital) => chosen.includes(hospital.slug) && hospital.node_status !== "online");
  return (
    <fieldset className={`participant-picker${error ? " field-invalid" : ""}`}>
      <legend>Hospitals invited to train</legend>
      {hospitals.map((hospital) => (
        <HospitalCheckbox
          key={hospital.slug}
          hospital={hospital}
          checked={chosen.includes(hospital.slug)}
          errorId={error ? errorId : null}
          onToggle={() => onToggle(hospital.slug)}
        />
      ))}
      <FieldError id={errorId} error={error} />
      {/* Always rendered, so screen readers announce the warning when ticking a hospital makes it appear. */}
      <div role="status">{notOnline.length > 0 && <OfflineWarning hospitals={notOnline} />}</div>
    </fieldset>
  );
}

function HospitalCheckbox({ hospital, checked, errorId, onToggle }) {
  const id = useId();
  return (
    <div className="check">
      <input
        type="checkbox"
        id={id}
        name="participants"
        value={hospital.slug}
        checked={checked}
        onChange={onToggle}
        aria-describedby={[errorId, `${id}-node`].filter(Boolean).join(" ")}
        aria-invalid={errorId ? true : undefined}
      />
      <label htmlFor={id}>{hospital.name}</label>
      <span className="check-detail" id={`${id}-node`}>
        <NodeBadge hospital={hospital} />{" "}
        {!hospital.node_token_active && <span className="hint">(no node token)</span>}
      </span>
    </div>
  );
}

function OfflineWarning({ hospitals }) {
  const described = hospitals.map((hospital) => {
    const node = describeNode(hospital);
    return `${hospital.name} (${node.label.toLowerCase()}${node.detail ? `, ${node.detail}` : ""})`;
  });
  return (
    <p className="notice" data-testid="offline-warning">
      Ticked but not online: {described.join(", ")}. A node trains only once it connects; the round waits for it until the deadline.
    </p>
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
