import { act, render, screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { MemoryRouter } from "react-router-dom";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { AppRoutes } from "../App.jsx";
import { AuthProvider } from "../auth.jsx";
import { FakeWebSocket, mockFetch } from "./fakes.js";

const COORDINATOR = { id: 1, username: "coordinator", role: "coordinator", hospital: null };
const ADMIN = { id: 2, username: "admin_a", role: "hospital_admin", hospital: "hospital-a" };
const HOSPITAL_A = { id: 10, name: "Hospital A", slug: "hospital-a", node_online: true, node_last_seen_at: new Date().toISOString(), node_token_active: true, chain_address: "", created_at: "2026-01-01T00:00:00Z" };

function round(state, submitted = []) {
  return {
    id: 7, state, reason: "", architecture: "cnn28-d16", base_model: 1, base_version: 0, config: { lr: 0.001, local_epochs: 1 },
    config_hash: "c".repeat(64), aggregation: "plaintext", quorum: 2, deadline: "2030-01-01T00:00:00Z",
    participants: [
      { hospital: "hospital-a", hospital_name: "Hospital A", opted_out: false },
      { hospital: "hospital-b", hospital_name: "Hospital B", opted_out: false },
    ],
    submitted, result_model: null, stage_seconds: {}, created_at: "2026-01-01T00:00:00Z", updated_at: "2026-01-01T00:00:00Z",
  };
}

function renderAt(path) {
  return render(
    <AuthProvider>
      <MemoryRouter initialEntries={[path]}>
        <AppRoutes />
      </MemoryRouter>
    </AuthProvider>,
  );
}

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
      "GET /api/me/": COORDINATOR,
      "GET /api/rounds/7/": round("DRAFT"),
      "GET /api/rounds/7/events/": [],
      "GET /api/rounds/7/submissions/": [],
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
    await userEvent.click(screen.getByRole("button", { name: "Rotate node token" }));
    expect(await screen.findByTestId("token-value")).toHaveTextContent("node_abc.secret");
    await userEvent.click(screen.getByRole("button", { name: /hide the token/ }));
    expect(screen.queryByTestId("token-value")).not.toBeInTheDocument();
  });
});
