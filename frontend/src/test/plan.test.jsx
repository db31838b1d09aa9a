import { cleanup, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { DRAFT_KEY } from "../pages/PlanRoundPage.jsx";
import { FakeWebSocket, mockFetch } from "./fakes.js";
import { COORDINATOR, hospital, renderAt, round } from "./portal.jsx";

// What /api/rounds/plan-options/ answers: the portal's names, types, limits and defaults.
const OPTIONS = {
  config: {
    loss: { type: "choice", choices: ["mse_onehot", "cross_entropy"], default: "mse_onehot" },
    optimiser: { type: "choice", choices: ["sgd", "adam"], default: "adam" },
    lr: { type: "number", min_value: 1e-6, max_value: 1, default: 0.001 },
    head_lr: { type: "number", min_value: 2 ** -15, max_value: 1, default: 0.05 },
    local_epochs: { type: "integer", min_value: 1, max_value: 50, default: 1 },
    batch_size: { type: "integer", min_value: 1, max_value: 256, default: 8 },
    fedprox_mu: { type: "number", min_value: 0, max_value: 10, default: 0 },
    proof_steps: { type: "integer", min_value: 1, max_value: 32, default: 4 },
    prove_every_step: { type: "boolean", default: false },
  },
  protection: { default: "ckks", choices: ["ckks", "plaintext"] },
  proof_scheme: { default: "none", choices: ["groth16", "none"] },
  server_strategy: {
    default: "fedavg",
    choices: { fedavg: {}, fedavgm: { server_lr: 1, momentum: 0.9 }, fedadam: { eta: 0.01, beta1: 0.9, beta2: 0.99, tau: 0.001 } },
  },
};
const HOSPITALS = [hospital("a", 10, "online"), hospital("b", 11, "offline"), hospital("c", 12, "never_connected")];
const MODEL = { id: 1, architecture: "cnn28-d16", num_classes: 2, version: 0, metrics: {}, created_at: "2026-01-01T00:00:00Z" };

function planRoutes(extra = {}) {
  return mockFetch({
    "GET /api/me/": COORDINATOR,
    "GET /api/models/": [MODEL],
    "GET /api/hospitals/": HOSPITALS,
    "GET /api/rounds/plan-options/": OPTIONS,
    "GET /api/rounds/7/": round("DRAFT"),
    "GET /api/rounds/7/events/": [],
    "GET /api/rounds/7/submissions/": [],
    "POST /api/rounds/": [201, round("DRAFT")],
    ...extra,
  });
}

async function openForm() {
  renderAt("/rounds/new");
  return screen.findByRole("form", { name: "Plan a round" });
}

const posted = (calls) => calls.filter((call) => call.method === "POST" && call.path === "/api/rounds/");

beforeEach(() => {
  FakeWebSocket.reset();
  globalThis.WebSocket = FakeWebSocket;
});

afterEach(() => {
  delete globalThis.WebSocket;
});

describe("plan form words", () => {
  it("labels every field and choice for people, with the hint beside the label, not in it", async () => {
    planRoutes();
    const form = await openForm();
    const lr = screen.getByLabelText("Learning rate");
    expect(lr).toHaveAttribute("name", "config.lr");
    expect(lr).toHaveAccessibleDescription(/step size for the network body/);
    expect(screen.getByLabelText("Head learning rate")).toHaveAccessibleDescription(/fixed-point classifier head/);
    expect(screen.getByLabelText("FedProx strength (μ)")).toHaveAccessibleDescription(/plain federated averaging/);
    expect(screen.getByLabelText("Update protection")).toHaveAccessibleDescription(/only their sum is ever decrypted/);
    for (const name of ["Loss function", "Optimiser", "Local epochs", "Batch size", "Proofs of training", "Server strategy", "Base model", "Quorum", "Deadline"]) {
      expect(screen.getByLabelText(name)).toHaveAccessibleDescription(/\w/);
    }
    expect(screen.getByRole("option", { name: "Encrypted (CKKS, threshold decryption) (portal default)" })).toBeInTheDocument();
    expect(screen.getByRole("option", { name: "Plaintext (benchmark baseline only)" })).toBeInTheDocument();
    expect(screen.getByRole("option", { name: "Squared error (provable)" })).toBeInTheDocument();
    expect(form.textContent).not.toMatch(/\bLr\b|Head lr|Fedprox mu|mse_onehot|cross_entropy|ckks/);
    for (const label of form.querySelectorAll("label")) expect(label.querySelector(".hint")).toBeNull();
    expect(document.title).toBe("Plan a round · DecentraHealth");
  });
});

describe("plan form fields", () => {
  it("hides proof-only fields while proofs are off, and does not send them", async () => {
    const calls = planRoutes();
    await openForm();
    expect(screen.queryByLabelText("Proofs per hospital")).not.toBeInTheDocument();
    await userEvent.selectOptions(screen.getByLabelText("Proofs of training"), "groth16");
    expect(screen.getByLabelText("Proofs per hospital")).toHaveValue(4);
    await userEvent.selectOptions(screen.getByLabelText("Proofs of training"), "none");
    expect(screen.queryByLabelText("Proofs per hospital")).not.toBeInTheDocument();
    await userEvent.click(screen.getByRole("button", { name: "Create the draft round" }));
    await waitFor(() => expect(posted(calls)).toHaveLength(1));
    const body = posted(calls)[0].body;
    expect(body.config).not.toHaveProperty("proof_steps");
    expect(body).toMatchObject({ protection: "ckks", proof_scheme: "none", participants: ["hospital-a"], quorum: 1 });
    expect(body).not.toHaveProperty("aggregation");
  });

  it("proves every step when its box is ticked, and sends a boolean", async () => {
    const calls = planRoutes();
    await openForm();
    await userEvent.selectOptions(screen.getByLabelText("Proofs of training"), "groth16");
    const box = screen.getByLabelText("Prove every step");
    expect(box).not.toBeChecked();
    expect(box).toHaveAccessibleDescription(/no forged step can pass/);
    await userEvent.click(box);
    expect(box).toBeChecked();
    await userEvent.click(screen.getByRole("button", { name: "Create the draft round" }));
    await waitFor(() => expect(posted(calls)).toHaveLength(1));
    expect(posted(calls)[0].body.config).toMatchObject({ prove_every_step: true, proof_steps: 4 });
  });

  it("names a server strategy and its learning rate only when it is not FedAvg", async () => {
    const calls = planRoutes();
    await openForm();
    expect(screen.queryByLabelText("Server learning rate")).not.toBeInTheDocument();
    await userEvent.selectOptions(screen.getByLabelText("Server strategy"), "fedadam");
    const lr = screen.getByLabelText("Server learning rate");
    expect(lr).toHaveAttribute("placeholder", "0.01");
    await userEvent.type(lr, "0.05");
    await userEvent.click(screen.getByRole("button", { name: "Create the draft round" }));
    await waitFor(() => expect(posted(calls)).toHaveLength(1));
    expect(posted(calls)[0].body.server_strategy).toEqual({ name: "fedadam", eta: 0.05 });
  });

  it("shows every problem at once beside its field, and sends nothing", async () => {
    const calls = planRoutes();
    const form = await openForm();
    expect(form).toHaveAttribute("novalidate");
    await userEvent.clear(screen.getByLabelText("Learning rate"));
    await userEvent.clear(screen.getByLabelText("Local epochs"));
    await userEvent.type(screen.getByLabelText("Local epochs"), "1.5");
    await userEvent.click(screen.getByLabelText("Hospital A")); // no hospital ticked any more
    await userEvent.clear(screen.getByLabelText("Deadline"));
    const submit = screen.getByRole("button", { name: "Create the draft round" });
    expect(submit).toBeEnabled();
    await userEvent.click(submit);

    expect(screen.getByRole("alert")).toHaveTextContent("Please correct the 4 highlighted fields.");
    expect(screen.getByLabelText("Learning rate")).toHaveAccessibleDescription(/^Required\./);
    expect(screen.getByLabelText("Local epochs")).toHaveAccessibleDescription(/^Enter a whole number\./);
    expect(screen.getByLabelText("Deadline")).toHaveAccessibleDescription(/^Choose a deadline\./);
    expect(screen.getByLabelText("Hospital A")).toHaveAccessibleDescription(/^Tick at least one hospital to invite\./);
    expect(screen.getByLabelText("Learning rate")).toHaveFocus(); // the first field to fix
    expect(posted(calls)).toHaveLength(0);

    await userEvent.type(screen.getByLabelText("Learning rate"), "0.01"); // fixing a field clears its message
    expect(screen.getByLabelText("Learning rate")).not.toHaveAccessibleDescription(/Required/);
  });

  it("shows the portal's field errors beside their fields", async () => {
    planRoutes({
      "POST /api/rounds/": [400, { error: "invalid", detail: "The request has invalid fields.", fields: { config: { batch_size: ["No proving circuit for 12."] }, quorum: ["Too many."] } }],
    });
    await openForm();
    await userEvent.click(screen.getByRole("button", { name: "Create the draft round" }));
    expect(await screen.findByRole("alert")).toHaveTextContent("Please correct the 2 highlighted fields.");
    expect(screen.getByLabelText("Batch size")).toHaveAccessibleDescription(/^No proving circuit for 12\./);
    expect(screen.getByLabelText("Quorum")).toHaveAccessibleDescription(/^Too many\./);
  });
});

describe("plan form campaign", () => {
  it("plans a campaign: a schedule instead of a deadline, one POST to /api/campaigns/, then the Campaigns page", async () => {
    const calls = planRoutes({ "POST /api/campaigns/": [201, { id: 3 }], "GET /api/campaigns/": [] });
    await openForm();
    expect(screen.queryByLabelText("Rounds")).not.toBeInTheDocument();
    await userEvent.click(screen.getByLabelText("Run as a campaign of rounds"));
    expect(screen.queryByLabelText("Deadline")).not.toBeInTheDocument();
    await userEvent.clear(screen.getByLabelText("Rounds"));
    await userEvent.type(screen.getByLabelText("Target validation AUC"), "1.5");
    await userEvent.click(screen.getByRole("button", { name: "Create the draft campaign" }));
    expect(screen.getByRole("alert")).toHaveTextContent("Please correct the 3 highlighted fields.");
    expect(screen.getByLabelText("Campaign name")).toHaveAccessibleDescription(/^Name the campaign\./);
    expect(screen.getByLabelText("Rounds")).toHaveAccessibleDescription(/^Required\./);
    expect(screen.getByLabelText("Target validation AUC")).toHaveAccessibleDescription(/^At most 1\./);
    expect(calls.filter((call) => call.method === "POST")).toHaveLength(0);

    await userEvent.type(screen.getByLabelText("Campaign name"), "Pneumonia, autumn");
    await userEvent.type(screen.getByLabelText("Rounds"), "10");
    await userEvent.clear(screen.getByLabelText("Minutes per round"));
    await userEvent.type(screen.getByLabelText("Minutes per round"), "15");
    await userEvent.clear(screen.getByLabelText("Target validation AUC"));
    await userEvent.type(screen.getByLabelText("Target validation AUC"), "0.97");
    await userEvent.click(screen.getByRole("button", { name: "Create the draft campaign" }));
    await waitFor(() => expect(calls.filter((call) => call.path === "/api/campaigns/" && call.method === "POST")).toHaveLength(1));
    const body = calls.find((call) => call.path === "/api/campaigns/" && call.method === "POST").body;
    expect(body).toMatchObject({ name: "Pneumonia, autumn", rounds: 10, round_seconds: 900, target_auc: 0.97, participants: ["hospital-a"], quorum: 1 });
    expect(body).not.toHaveProperty("deadline");
    expect(posted(calls)).toHaveLength(0); // no single round planned
    expect(await screen.findByRole("heading", { name: "Campaigns" })).toBeInTheDocument();
  });
});

describe("plan form differential privacy", () => {
  it("sends the noise multiplier and a campaign's budget, and refuses a budget without noise", async () => {
    const calls = planRoutes({ "POST /api/campaigns/": [201, { id: 4 }], "GET /api/campaigns/": [] });
    await openForm();
    await userEvent.click(screen.getByLabelText("Run as a campaign of rounds"));
    await userEvent.type(screen.getByLabelText("Campaign name"), "Private");
    await userEvent.type(screen.getByLabelText("Privacy budget (epsilon)"), "8");
    await userEvent.click(screen.getByRole("button", { name: "Create the draft campaign" }));
    expect(screen.getByLabelText("Privacy budget (epsilon)")).toHaveAccessibleDescription(/^A privacy budget needs a noise multiplier above 0\./);
    expect(calls.filter((call) => call.method === "POST")).toHaveLength(0);
    await userEvent.type(screen.getByLabelText("Differential privacy noise"), "1.5");
    await userEvent.click(screen.getByRole("button", { name: "Create the draft campaign" }));
    await waitFor(() => expect(calls.filter((call) => call.path === "/api/campaigns/" && call.method === "POST")).toHaveLength(1));
    const body = calls.find((call) => call.path === "/api/campaigns/" && call.method === "POST").body;
    expect(body).toMatchObject({ dp_noise_multiplier: 1.5, epsilon_budget: 8 });
  });
});

describe("plan form participants", () => {
  it("ticks only online hospitals, and warns about ticked ones that are not", async () => {
    planRoutes();
    await openForm();
    expect(screen.getByLabelText("Hospital A")).toBeChecked();
    expect(screen.getByLabelText("Hospital B")).not.toBeChecked();
    expect(screen.getByLabelText("Hospital C")).not.toBeChecked();
    expect(screen.getByLabelText("Hospital B")).toHaveAccessibleDescription(/Offline \(last seen 5 min \d+ s ago\)/);
    expect(screen.getByLabelText("Hospital C")).toHaveAccessibleDescription(/Never connected/);
    expect(screen.queryByTestId("offline-warning")).not.toBeInTheDocument();

    await userEvent.click(screen.getByLabelText("Hospital B"));
    await userEvent.click(screen.getByLabelText("Hospital C"));
    const warning = screen.getByTestId("offline-warning");
    expect(warning).toHaveTextContent(/Hospital B \(offline, last seen 5 min \d+ s ago\)/);
    expect(warning).toHaveTextContent("Hospital C (never connected)");
    expect(warning).not.toHaveTextContent("Hospital A");
    expect(screen.getByLabelText("Quorum")).toHaveValue(1); // only Hospital A can train now
  });
});

describe("plan form draft", () => {
  const saved = {
    baseModel: "1",
    protection: "plaintext",
    proofScheme: "groth16",
    config: { ...Object.fromEntries(Object.entries(OPTIONS.config).map(([name, field]) => [name, String(field.default)])), lr: "0.02", proof_steps: "6" },
    participants: ["hospital-a", "hospital-b", "hospital-gone"],
    quorum: "2",
    deadline: "2031-05-06T07:08",
  };

  it("keeps a plan the portal could not take, across a reload", async () => {
    const calls = planRoutes({ "POST /api/rounds/": [503, { error: "unavailable", detail: "The portal is restarting." }] });
    const form = await openForm();
    await userEvent.clear(screen.getByLabelText("Learning rate"));
    await userEvent.type(screen.getByLabelText("Learning rate"), "0.02");
    await userEvent.click(screen.getByRole("button", { name: "Create the draft round" }));
    expect(await within(form).findByRole("alert")).toHaveTextContent("The portal is restarting.");
    expect(posted(calls)).toHaveLength(1);

    cleanup(); // the page is reloaded
    await openForm();
    expect(screen.getByTestId("draft-restored")).toBeInTheDocument();
    expect(screen.getByLabelText("Learning rate")).toHaveValue(0.02);
  });

  it("restores a stored draft, dropping what no longer exists, and clears it after a successful submit", async () => {
    window.localStorage.setItem(DRAFT_KEY, JSON.stringify({ values: saved, savedAt: new Date().toISOString() }));
    const calls = planRoutes();
    await openForm();
    expect(screen.getByTestId("draft-restored")).toHaveTextContent("Restored the plan you had not sent");
    expect(screen.getByLabelText("Learning rate")).toHaveValue(0.02);
    expect(screen.getByLabelText("Proofs per hospital")).toHaveValue(6);
    expect(screen.getByLabelText("Update protection")).toHaveValue("plaintext");
    expect(screen.getByLabelText("Hospital B")).toBeChecked();
    expect(screen.getByLabelText("Quorum")).toHaveValue(2);
    expect(screen.getByLabelText("Deadline")).toHaveValue("2031-05-06T07:08");

    await userEvent.click(screen.getByRole("button", { name: "Create the draft round" }));
    await screen.findByRole("heading", { name: "Round 7" });
    expect(posted(calls)[0].body).toMatchObject({ participants: ["hospital-a", "hospital-b"], quorum: 2, config: { lr: 0.02, proof_steps: 6 } });
    expect(window.localStorage.getItem(DRAFT_KEY)).toBeNull();
  });

  it("starts over on request", async () => {
    window.localStorage.setItem(DRAFT_KEY, JSON.stringify({ values: saved, savedAt: new Date().toISOString() }));
    planRoutes();
    await openForm();
    await userEvent.click(screen.getByRole("button", { name: "Start over" }));
    expect(screen.getByLabelText("Learning rate")).toHaveValue(0.001);
    expect(screen.queryByTestId("draft-restored")).not.toBeInTheDocument();
    expect(window.localStorage.getItem(DRAFT_KEY)).toBeNull();
  });
});
