import { act, screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { FakeWebSocket, mockFetch } from "./fakes.js";
import { ADMIN, COORDINATOR, HOSPITAL_A, renderAt, round, roundRoutes } from "./portal.jsx";

beforeEach(() => {
  FakeWebSocket.reset();
  globalThis.WebSocket = FakeWebSocket;
});

afterEach(() => {
  delete globalThis.WebSocket;
});

describe("login", () => {
  it("shows the API's reason when the password is wrong", async () => {
    mockFetch({
      "GET /api/me/": [401, { error: "not_authenticated", detail: "Authentication credentials were not provided." }],
      "POST /api/auth/login/": [403, { error: "forbidden", detail: "Wrong username or password" }],
    });
    renderAt("/");
    await userEvent.type(await screen.findByLabelText("Username"), "coordinator");
    await userEvent.type(screen.getByLabelText("Password"), "nope");
    await userEvent.click(screen.getByRole("button", { name: "Log in" }));
    expect(await screen.findByRole("alert")).toHaveTextContent("Wrong username or password");
  });
});

describe("round page", () => {
  it("approves a round and follows it live, refetching after each event and after a reconnect", async () => {
    let current = round("DRAFT");
    const calls = mockFetch({
      "GET /api/me/": COORDINATOR,
      "GET /api/rounds/7/": () => current,
      "GET /api/rounds/7/events/": [],
      "GET /api/rounds/7/submissions/": [],
      "POST /api/rounds/7/approve/": () => {
        current = round("APPROVED");
        return current;
      },
    });
    renderAt("/rounds/7");
    expect(await screen.findByTestId("round-state")).toHaveTextContent("DRAFT");
    await act(async () => FakeWebSocket.last().open());
    expect(FakeWebSocket.last().url).toMatch(/\/ws\/rounds\/7\/$/);
    await userEvent.click(screen.getByRole("button", { name: "Approve round" }));
    await waitFor(() => expect(screen.getByTestId("round-state")).toHaveTextContent("APPROVED"));

    current = round("COLLECTING", ["hospital-a"]);
    await act(async () => FakeWebSocket.last().push({ kind: "submission", round: 7, seq: 5, hospital: "hospital-a", proof: "none" }));
    expect(screen.getByText("hospital-a submitted its update")).toBeInTheDocument(); // shown at once, before the refetch
    await waitFor(() => expect(screen.getByTestId("round-state")).toHaveTextContent("COLLECTING"));
    expect(screen.getByText(/1 of 2 taking part/)).toBeInTheDocument();

    current = round("COMPLETED", ["hospital-a", "hospital-b"]);
    const before = calls.filter((call) => call.path === "/api/rounds/7/").length;
    await act(async () => FakeWebSocket.last().drop());
    expect(await screen.findByTestId("live-status")).toHaveAttribute("data-status", "reconnecting");
    await waitFor(() => expect(FakeWebSocket.instances.length).toBeGreaterThan(1), { timeout: 3000 });
    await act(async () => FakeWebSocket.last().open());
    await waitFor(() => expect(screen.getByTestId("round-state")).toHaveTextContent("COMPLETED"));
    expect(calls.filter((call) => call.path === "/api/rounds/7/").length).toBeGreaterThan(before);
  });

  it("shows a conflict from the API as a readable message", async () => {
    mockFetch({
      ...roundRoutes(round("DRAFT")),
      "POST /api/rounds/7/approve/": [409, { error: "illegal_transition", detail: "A round in state CANCELLED cannot become APPROVED; allowed: none (the round is finished)" }],
    });
    renderAt("/rounds/7");
    await userEvent.click(await screen.findByRole("button", { name: "Approve round" }));
    expect(await screen.findByRole("alert")).toHaveTextContent("cannot become APPROVED");
  });
});

describe("cancelling", () => {
  it("asks for a reason and sends it", async () => {
    let current = round("COLLECTING", ["hospital-a"]);
    const calls = mockFetch({
      "GET /api/me/": COORDINATOR,
      "GET /api/rounds/7/": () => current,
      "GET /api/rounds/7/events/": [],
      "GET /api/rounds/7/submissions/": [],
      "POST /api/rounds/7/cancel/": ({ body }) => {
        current = { ...round("CANCELLED", ["hospital-a"]), reason: body.reason };
        return current;
      },
    });
    renderAt("/rounds/7");
    await userEvent.click(await screen.findByRole("button", { name: "Cancel round" }));
    await userEvent.type(screen.getByLabelText(/Reason/), "wrong learning rate");
    await userEvent.click(screen.getByRole("button", { name: "Cancel the round" }));
    await waitFor(() => expect(screen.getByTestId("round-state")).toHaveTextContent("CANCELLED"));
    expect(calls.find((call) => call.method === "POST").body).toEqual({ reason: "wrong learning rate" });
    expect(screen.getByText("Cancelled: wrong learning rate")).toBeInTheDocument();
  });
});

describe("hospital admin", () => {
  it("sees their own row of a round and nothing of the other hospitals", async () => {
    const events = [
      { id: 1, round: 7, actor: "hospital-b", kind: "submission", from_state: "", to_state: "", detail: { hospital: "hospital-b", bytes: 10 }, created_at: "2026-01-01T00:00:00Z" },
      { id: 2, round: 7, actor: "admin_b", kind: "participation", from_state: "", to_state: "", detail: { hospital: "hospital-b", opted_in: true }, created_at: "2026-01-01T00:00:01Z" },
    ];
    mockFetch({
      "GET /api/me/": ADMIN,
      "GET /api/hospitals/": [HOSPITAL_A],
      "GET /api/rounds/7/": round("COLLECTING", ["hospital-b"]),
      "GET /api/rounds/7/events/": events,
      "GET /api/rounds/7/submissions/": [],
    });
    const { container } = renderAt("/rounds/7");
    expect(await screen.findByText("Another hospital submitted its update")).toBeInTheDocument();
    expect(container.querySelectorAll("[data-testid=participants] li")).toHaveLength(1);
    expect(container.textContent).not.toMatch(/hospital-b|Hospital B|admin_b/);
    expect(screen.getByRole("button", { name: "Opt out of this round" })).toBeInTheDocument();
  });


  it("is refused another hospital's page and coordinator pages", async () => {
    mockFetch({
      "GET /api/me/": ADMIN,
      "GET /api/hospitals/": [HOSPITAL_A],
      "GET /api/hospitals/11/": [404, { error: "not_found", detail: "No Hospital matches the given query." }],
      "GET /api/hospitals/11/submissions/": [404, { error: "not_found", detail: "Hospital 11 does not exist or is not yours" }],
      "GET /api/rounds/": [],
    });
    const { unmount } = renderAt("/hospitals/11");
    expect(await screen.findByText("Refused: not your hospital")).toBeInTheDocument();
    expect(screen.getByText("You can only see your own hospital, Hospital A.")).toBeInTheDocument();
    unmount();
    renderAt("/audit");
    expect(await screen.findByText(/This page is for the consortium coordinator/)).toBeInTheDocument();
  });

  it("lands on their own hospital and can rotate its node token, shown once", async () => {
    mockFetch({
      "GET /api/me/": ADMIN,
      "GET /api/hospitals/": [HOSPITAL_A],
      "GET /api/hospitals/10/": HOSPITAL_A,
      "GET /api/hospitals/10/submissions/": [],
      "GET /api/rounds/": [round("DRAFT")],
      "POST /api/hospitals/10/node-token/": [201, { token: "node_abc.secret" }],
    });
    renderAt("/");
    expect(await screen.findByRole("heading", { name: "Hospital A" })).toBeInTheDocument();
    expect(screen.getByText("No submissions yet")).toBeInTheDocument();
    expect(screen.getByRole("button", { name: "Opt out" })).toBeInTheDocument();
    await userEvent.click(screen.getByRole("button", { name: "Rotate token" }));
    expect(screen.queryByTestId("token-value")).not.toBeInTheDocument(); // rotating cuts the node off: asked first
    await userEvent.click(screen.getByRole("button", { name: "Confirm rotation" }));
    expect(await screen.findByTestId("token-value")).toHaveTextContent("node_abc.secret");
    await userEvent.click(screen.getByRole("button", { name: /hide the token/ }));
    expect(screen.queryByTestId("token-value")).not.toBeInTheDocument();
  });
});

describe("a collecting round", () => {
  it("shows each hospital's progress from its node's status", async () => {
    const collecting = round("COLLECTING");
    collecting.participants[0].status = "training";
    mockFetch(roundRoutes(collecting));
    const { container } = renderAt("/rounds/7");
    await screen.findByTestId("participants");
    const row = (slug) => container.querySelector(`[data-testid=participants] [data-hospital=${slug}]`);
    expect(row("hospital-a")).toHaveTextContent("Training locally…");
    expect(row("hospital-b")).toHaveTextContent("Waiting for node");
    expect(screen.getByText("Learning rate")).toBeInTheDocument(); // the settings in words
    expect(screen.queryByText("Proofs per hospital")).not.toBeInTheDocument(); // meaningless without proofs
    expect(document.title).toBe("Round 7 · DecentraHealth");
  });

  it("counts down to the deadline, every second", async () => {
    vi.useFakeTimers({ toFake: ["Date"] }); // a fixed clock; the page's one-second interval stays real
    try {
      vi.setSystemTime(new Date("2030-01-01T00:00:00Z"));
      mockFetch(roundRoutes(round("COLLECTING", [], { deadline: "2030-01-01T00:12:34Z" })));
      renderAt("/rounds/7");
      expect(await screen.findByTestId("countdown")).toHaveTextContent("Aggregates in 12:34 or when all have submitted");
      vi.setSystemTime(new Date("2030-01-01T00:12:00Z"));
      await waitFor(() => expect(screen.getByTestId("countdown")).toHaveTextContent("Aggregates in 0:34"), { timeout: 2000 });
      vi.setSystemTime(new Date("2030-01-01T00:13:00Z"));
      await waitFor(() => expect(screen.getByTestId("countdown")).toHaveTextContent("Deadline reached"), { timeout: 2000 });
    } finally {
      vi.useRealTimers();
    }
  });

  it.each([
    ["COLLECTING", ["hospital-a"], COORDINATOR, false], // below the quorum of 2
    ["COLLECTING", ["hospital-a", "hospital-b"], COORDINATOR, true],
    ["OPEN", ["hospital-a", "hospital-b"], COORDINATOR, false], // not collecting (yet)
    ["COLLECTING", ["hospital-a", "hospital-b"], ADMIN, false], // the coordinator's decision
  ])("offers to aggregate now: %s, %j submitted, %s", async (state, submitted, user, shown) => {
    mockFetch(roundRoutes(round(state, submitted), user));
    renderAt("/rounds/7");
    await screen.findByTestId("participants");
    expect(screen.queryByRole("button", { name: "Aggregate now" }) !== null).toBe(shown);
  });

  it("aggregates now after a confirmation, and says why the portal refused", async () => {
    const collecting = round("COLLECTING", ["hospital-a", "hospital-b"]);
    collecting.participants.push({ hospital: "hospital-c", hospital_name: "Hospital C", opted_out: false, status: "training" });
    const calls = mockFetch({
      ...roundRoutes(collecting),
      "POST /api/rounds/7/aggregate/": [409, { error: "quorum_not_met", detail: "Only 1 update of the quorum of 2 is valid" }],
    });
    renderAt("/rounds/7");
    await userEvent.click(await screen.findByRole("button", { name: "Aggregate now" }));
    expect(calls.some((call) => call.method === "POST")).toBe(false);
    await userEvent.click(screen.getByRole("button", { name: "Aggregate the 2 of 3 updates now" }));
    expect(await screen.findByRole("alert")).toHaveTextContent("Only 1 update of the quorum of 2 is valid");
    expect(calls.filter((call) => call.method === "POST").map((call) => call.path)).toEqual(["/api/rounds/7/aggregate/"]);
  });
});

describe("a round finishing while watched", () => {
  it("fetches its events once more after the socket closes, so the last ones are not lost", async () => {
    let current = round("COLLECTING", ["hospital-a", "hospital-b"]);
    const model = { id: 9, round: 7, actor: "portal", kind: "model", from_state: "", to_state: "", detail: { version: 1 }, created_at: "2026-01-01T00:01:00Z" };
    let staleOnce = true; // the events request of the refetch that sees COMPLETED was answered before the commit
    mockFetch({
      ...roundRoutes(() => current),
      "GET /api/rounds/7/events/": () => {
        if (current.state !== "COMPLETED") return [];
        if (staleOnce) {
          staleOnce = false;
          return [];
        }
        return [model];
      },
    });
    renderAt("/rounds/7");
    await screen.findByTestId("participants");
    await act(async () => FakeWebSocket.last().open());
    current = round("COMPLETED", ["hospital-a", "hospital-b"]);
    await act(async () => FakeWebSocket.last().push({ kind: "state", round: 7, seq: 9, state: "AGGREGATING", previous: "COLLECTING" }));
    await waitFor(() => expect(screen.getByTestId("round-state")).toHaveTextContent("COMPLETED"));
    expect(FakeWebSocket.last().closedByClient).not.toBeNull();
    expect(await screen.findByText("Global model v1 published")).toBeInTheDocument();
  });
});

describe("titles", () => {
  it("names each page in the window title", async () => {
    mockFetch({ "GET /api/me/": COORDINATOR, "GET /api/rounds/": [] });
    renderAt("/rounds");
    await screen.findByRole("heading", { name: "Rounds" });
    // The title is set by an effect after the page renders: the previous test's page may still name it.
    await waitFor(() => expect(document.title).toBe("Rounds · DecentraHealth"));
  });
});

describe("campaigns", () => {
  const campaign = (state, rounds, extra = {}) => ({
    id: 3,
    name: "pneumonia",
    state,
    reason: "",
    rounds_planned: 4,
    round_seconds: 600,
    target_auc: 0.95,
    rounds,
    created_at: "2026-12-01T10:00:00Z",
    updated_at: "2026-12-01T10:05:00Z",
    ...extra,
  });
  const row = (number, state, auc) => ({ number, round: 10 + number, state, val_accuracy: auc && auc - 0.05, val_auc: auc });

  it("shows the epsilon a private campaign spent, round by round, against its budget", async () => {
    const private_ = (number, state, epsilon) => ({ ...row(number, state, 0.9), epsilon });
    mockFetch({
      "GET /api/me/": COORDINATOR,
      "GET /api/campaigns/": [campaign("RUNNING", [private_(1, "COMPLETED", 1.234), private_(2, "COMPLETED", 1.9), private_(3, "COLLECTING", 2.4)], { epsilon_budget: 4 })],
    });
    renderAt("/campaigns");
    expect(await screen.findByTestId("privacy")).toHaveTextContent(
      "Differential privacy: epsilon spent 1.90 of a budget of 4 after 2 rounds (running total per round: 1.23, 1.90, 2.40).",
    );
    const chart = screen.getByTestId("epsilon-chart");
    expect(chart.querySelectorAll("circle.spent")).toHaveLength(2);
    expect(chart.querySelectorAll("circle.planned")).toHaveLength(1);
    expect(chart.querySelector('[data-series="budget"]')).toHaveTextContent("budget 4");
    expect([...chart.querySelectorAll("circle title")].map((title) => title.textContent)).toEqual([
      "round 1: epsilon 1.23",
      "round 2: epsilon 1.90",
      "round 3: epsilon 2.40 once it completes",
    ]);
  });

  it("approves a draft with one click and shows its rounds and curve", async () => {
    let current = campaign("DRAFT", [row(1, "DRAFT", null)]);
    const calls = mockFetch({
      "GET /api/me/": COORDINATOR,
      "GET /api/campaigns/": () => [current],
      "POST /api/campaigns/3/approve/": () => {
        current = campaign("RUNNING", [row(1, "COMPLETED", 0.91), row(2, "COLLECTING", null)]);
        return current;
      },
    });
    renderAt("/campaigns");
    await userEvent.click(await screen.findByRole("button", { name: "Approve campaign" }));
    await waitFor(() => expect(screen.getByTestId("round-state")).toHaveTextContent("RUNNING"));
    expect(calls.filter((call) => call.method === "POST").map((call) => call.path)).toEqual(["/api/campaigns/3/approve/"]);
    expect(screen.getByRole("link", { name: "2 (round 12, collecting)" })).toHaveAttribute("href", "/rounds/12");
    expect(screen.getByRole("progressbar", { name: "Rounds completed" })).toHaveAttribute("aria-valuenow", "1");
    expect(screen.getByTestId("accuracy-chart")).toBeInTheDocument();
    expect(screen.queryByRole("button", { name: "Approve campaign" })).not.toBeInTheDocument();
  });

  it("shows a hospital admin the campaign and its end, without actions", async () => {
    mockFetch({
      "GET /api/me/": ADMIN,
      "GET /api/hospitals/": [HOSPITAL_A],
      "GET /api/campaigns/": [campaign("COMPLETED", [row(1, "COMPLETED", 0.96)], { reason: "validation AUC 0.9600 reached the target 0.95 after 1 round(s)" })],
    });
    renderAt("/campaigns");
    expect(await screen.findByText(/reached the target 0.95 after 1 round/)).toBeInTheDocument();
    expect(screen.queryByRole("button", { name: /campaign/ })).not.toBeInTheDocument();
  });
});
