import { render, screen } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import { AccuracyChart, chartPoints } from "../components/AccuracyChart.jsx";
import { NodeBadge } from "../components/Bits.jsx";
import { describeEvent, StageStepper } from "../components/Timeline.jsx";
import { chainRecords, formatClock } from "../format.js";

const TX = `0x${"ab".repeat(32)}`;

function model(version, metrics, extra = {}) {
  return { id: version + 1, architecture: "cnn28-d16", num_classes: 2, version, metrics, produced_by: version || null, created_at: `2026-01-0${version + 1}T00:00:00Z`, ...extra };
}

describe("AccuracyChart", () => {
  it("draws one point per evaluated version and skips the unevaluated base model", () => {
    const models = [model(0, {}), model(1, { val_accuracy: 0.7, val_auc: 0.8 }), model(2, { val_accuracy: 0.8, val_auc: 0.85 })];
    expect(chartPoints(models).map((p) => p.version)).toEqual([1, 2]);
    const { container } = render(<AccuracyChart models={models} />);
    expect(container.querySelectorAll("[data-series=val_accuracy] circle")).toHaveLength(2);
    expect(container.querySelectorAll("[data-series=val_auc] rect")).toHaveLength(2);
    expect(screen.getByText("Validation AUC")).toBeInTheDocument();
  });

  it("shows a designed empty state", () => {
    render(<AccuracyChart models={[model(0, {})]} />);
    expect(screen.getByText("No evaluated model yet")).toBeInTheDocument();
  });

  it("lets the user pick between model lines", () => {
    render(<AccuracyChart models={[model(1, { val_accuracy: 0.5 }), model(1, { val_accuracy: 0.6 }, { architecture: "mlp30-d16", id: 9 })]} />);
    expect(screen.getByRole("combobox")).toBeInTheDocument();
  });
});

describe("events", () => {
  it("describes audit events and websocket events alike", () => {
    expect(describeEvent({ kind: "state", from_state: "COLLECTING", to_state: "AGGREGATING", detail: {} }).title).toBe("Aggregating");
    expect(describeEvent({ kind: "state", seq: 3, state: "FAILED", previous: "COLLECTING", reason: "quorum not met" }).title).toBe(
      "Failed: quorum not met",
    );
    expect(describeEvent({ kind: "model", detail: { version: 2, digest: "abc" } }).title).toBe("Global model v2 published");
    expect(describeEvent({ kind: "chain_submit", detail: {} }).title).toBe("Chain submit");
    expect(describeEvent({ kind: "aggregate_early", detail: { submitted: 3, quorum: 3 } }).subtitle).toBe("3 updates in, quorum 3");
  });

  it("hides other hospitals' names from a hospital admin", () => {
    const event = { kind: "submission", hospital: "hospital-b", proof: "verified" };
    expect(describeEvent(event, { ownHospital: "hospital-a" }).title).toBe("Another hospital submitted its update");
    expect(describeEvent(event, { ownHospital: "hospital-b" }).title).toBe("hospital-b submitted its update");
  });

  it("marks stages done, current and failed", () => {
    const events = [
      { to_state: "DRAFT", created_at: "2026-01-01T00:00:00Z" },
      { to_state: "APPROVED", created_at: "2026-01-01T00:00:05Z" },
      { to_state: "OPEN", created_at: "2026-01-01T00:00:06Z" },
      { to_state: "COLLECTING", created_at: "2026-01-01T00:00:07Z" },
    ];
    const { container, rerender } = render(<StageStepper round={{ state: "COLLECTING" }} events={events} />);
    const status = () => Object.fromEntries([...container.querySelectorAll("[data-stage]")].map((li) => [li.dataset.stage, li.dataset.status]));
    expect(status()).toEqual({ DRAFT: "done", APPROVED: "done", OPEN: "done", COLLECTING: "current", AGGREGATING: "pending", COMPLETED: "pending" });
    rerender(<StageStepper round={{ state: "FAILED" }} events={[...events, { to_state: "FAILED", created_at: "2026-01-01T00:01:00Z" }]} />);
    expect(status()).toEqual({ DRAFT: "done", APPROVED: "done", OPEN: "done", COLLECTING: "done", FAILED: "failed" });
  });
});

describe("chain records", () => {
  it("finds transactions whatever they are called, and ignores digests", () => {
    expect(chainRecords({ tx_hash: TX, blob_digest: "ab".repeat(32), proof_status: "verified" })).toEqual([{ label: "Tx hash", value: TX, kind: "tx" }]);
    expect(chainRecords({ chain: { tx_hash: TX, block: 12 } }).map((r) => r.kind)).toEqual(["tx", "value"]);
    expect(chainRecords({ anything: TX })).toHaveLength(1);
    expect(chainRecords(undefined)).toEqual([]);
  });
});

describe("node status", () => {
  const seen = new Date(Date.now() - 5 * 60000).toISOString();
  it.each([
    [{ node_status: "online", node_last_seen_at: seen }, "Online"],
    [{ node_status: "offline", node_last_seen_at: seen }, /^Offline \(last seen 5 min \d+ s ago\)$/],
    [{ node_status: "never_connected", node_last_seen_at: null }, "Never connected"],
    [{ node_status: "sleeping", node_last_seen_at: seen }, "Status unknown"], // not a status this version knows
  ])("says honestly where the node is: %j", (hospital, text) => {
    render(<NodeBadge hospital={hospital} />);
    expect(screen.getByTestId("node-status")).toHaveTextContent(text);
  });
});

describe("countdown clock", () => {
  it("shows minutes and seconds, hours when needed, days as a duration", () => {
    expect(formatClock(754)).toBe("12:34");
    expect(formatClock(3723)).toBe("1:02:03");
    expect(formatClock(-5)).toBe("0:00");
    expect(formatClock(2 * 86400 + 3 * 3600)).toBe("2 d 3 h");
  });
});
