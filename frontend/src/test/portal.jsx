import { render } from "@testing-library/react";
import { MemoryRouter } from "react-router-dom";
import { AppRoutes } from "../App.jsx";
import { AuthProvider } from "../auth.jsx";

// What the portal's API answers, as the pages' tests need it.

export const COORDINATOR = { id: 1, username: "coordinator", role: "coordinator", hospital: null };
export const ADMIN = { id: 2, username: "admin_a", role: "hospital_admin", hospital: "hospital-a" };

export function hospital(letter, id, nodeStatus, extra = {}) {
  const seen = { online: new Date().toISOString(), offline: new Date(Date.now() - 5 * 60000).toISOString(), never_connected: null }[nodeStatus];
  return {
    id,
    name: `Hospital ${letter.toUpperCase()}`,
    slug: `hospital-${letter}`,
    node_status: nodeStatus,
    node_online: nodeStatus === "online",
    node_last_seen_at: seen,
    node_token_active: true,
    chain_address: "",
    created_at: "2026-01-01T00:00:00Z",
    ...extra,
  };
}

export const HOSPITAL_A = hospital("a", 10, "online");

export function round(state, submitted = [], extra = {}) {
  return {
    id: 7, state, reason: "", architecture: "cnn28-d16", base_model: 1, base_version: 0, config: { lr: 0.001, local_epochs: 1, proof_steps: 4 },
    config_hash: "c".repeat(64), protection: "plaintext", proof_scheme: "none", quorum: 2, deadline: "2030-01-01T00:00:00Z",
    participants: [
      { hospital: "hospital-a", hospital_name: "Hospital A", opted_out: false, status: submitted.includes("hospital-a") ? "submitted" : "invited" },
      { hospital: "hospital-b", hospital_name: "Hospital B", opted_out: false, status: submitted.includes("hospital-b") ? "submitted" : "invited" },
    ],
    submitted, result_model: null, stage_seconds: {}, created_at: "2026-01-01T00:00:00Z", updated_at: "2026-01-01T00:00:00Z",
    ...extra,
  };
}

/** The round page's four requests for `current()`, with no events and no submissions. */
export function roundRoutes(current, user = COORDINATOR) {
  return {
    "GET /api/me/": user,
    "GET /api/hospitals/": [HOSPITAL_A],
    "GET /api/rounds/7/": current,
    "GET /api/rounds/7/events/": [],
    "GET /api/rounds/7/submissions/": [],
  };
}

export function renderAt(path) {
  return render(
    <AuthProvider>
      <MemoryRouter initialEntries={[path]}>
        <AppRoutes />
      </MemoryRouter>
    </AuthProvider>,
  );
}
