import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { backoffDelay, LiveSocket } from "../live.js";
import { FakeWebSocket } from "./fakes.js";

function startSocket(handlers = {}) {
  const statuses = [];
  const socket = new LiveSocket("ws://portal/ws/rounds/", {
    WebSocketImpl: FakeWebSocket,
    backoff: (attempt) => 1000 * 2 ** attempt,
    onStatus: (status) => statuses.push(status.status),
    ...handlers,
  }).start();
  return { socket, statuses };
}

beforeEach(() => {
  FakeWebSocket.reset();
  vi.useFakeTimers();
});

afterEach(() => vi.useRealTimers());

describe("backoffDelay", () => {
  it("doubles up to a cap, with jitter in the upper half", () => {
    expect(backoffDelay(0, { random: () => 0 })).toBe(250);
    expect(backoffDelay(0, { random: () => 1 })).toBe(500);
    expect(backoffDelay(3, { random: () => 1 })).toBe(4000);
    expect(backoffDelay(20, { random: () => 1 })).toBe(15000);
  });
});

describe("LiveSocket", () => {
  it("delivers events in the order they arrive and refetches on every open", () => {
    const events = [];
    const onOpen = vi.fn();
    const { statuses } = startSocket({ onEvent: (event) => events.push(event.seq), onOpen });
    FakeWebSocket.last().open();
    FakeWebSocket.last().push({ kind: "state", round: 1, seq: 1, state: "OPEN" });
    FakeWebSocket.last().push({ kind: "state", round: 1, seq: 2, state: "COLLECTING" });
    expect(events).toEqual([1, 2]);
    expect(onOpen).toHaveBeenCalledTimes(1);
    expect(statuses).toEqual(["connecting", "live"]);
  });

  it("reconnects with growing delays after drops, and refetches once back", () => {
    const onOpen = vi.fn();
    const { statuses } = startSocket({ onOpen });
    FakeWebSocket.last().open();
    FakeWebSocket.last().drop();
    expect(statuses.at(-1)).toBe("reconnecting");
    vi.advanceTimersByTime(999);
    expect(FakeWebSocket.instances).toHaveLength(1);
    vi.advanceTimersByTime(1);
    expect(FakeWebSocket.instances).toHaveLength(2);
    FakeWebSocket.last().drop(); // the portal is still down: wait twice as long
    vi.advanceTimersByTime(1999);
    expect(FakeWebSocket.instances).toHaveLength(2);
    vi.advanceTimersByTime(1);
    expect(FakeWebSocket.instances).toHaveLength(3);
    FakeWebSocket.last().open();
    expect(onOpen).toHaveBeenCalledTimes(2);
    expect(statuses.at(-1)).toBe("live");
    FakeWebSocket.last().drop(); // after a successful open the delay starts small again
    vi.advanceTimersByTime(1000);
    expect(FakeWebSocket.instances).toHaveLength(4);
  });

  it("does not retry when the portal refuses the user", () => {
    const { statuses } = startSocket();
    FakeWebSocket.last().drop(4403);
    vi.advanceTimersByTime(60000);
    expect(FakeWebSocket.instances).toHaveLength(1);
    expect(statuses.at(-1)).toBe("refused");
  });

  it("stops for good when the page closes it", () => {
    const { socket } = startSocket();
    FakeWebSocket.last().open();
    socket.stop();
    expect(FakeWebSocket.last().closedByClient.code).toBe(1000);
    vi.advanceTimersByTime(60000);
    expect(FakeWebSocket.instances).toHaveLength(1);
  });

  it("ignores messages that are not JSON", () => {
    const onEvent = vi.fn();
    startSocket({ onEvent });
    FakeWebSocket.last().open();
    FakeWebSocket.last().onmessage({ data: "not json" });
    expect(onEvent).not.toHaveBeenCalled();
  });
});
