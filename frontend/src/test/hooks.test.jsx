import { act, renderHook, waitFor } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";
import { useApi } from "../hooks.js";
import { mockFetch } from "./fakes.js";

afterEach(() => vi.useRealTimers());

describe("useApi", () => {
  it("retries while the portal is unreachable and clears the error as soon as it answers", async () => {
    vi.useFakeTimers();
    let up = false;
    const calls = mockFetch({ "GET /api/rounds/": () => (up ? [] : [502, { error: "bad_gateway", detail: "The portal is restarting." }]) });
    const { result } = renderHook(() => useApi("/api/rounds/"));
    await act(() => vi.advanceTimersByTimeAsync(0));
    expect(result.current.error?.status).toBe(502);
    await act(() => vi.advanceTimersByTimeAsync(2000)); // first retry within 2 s
    expect(calls).toHaveLength(2);
    up = true;
    await act(() => vi.advanceTimersByTimeAsync(4000)); // second within 4 s more
    expect(result.current.error).toBeNull();
    expect(result.current.data).toEqual([]);
    await act(() => vi.advanceTimersByTimeAsync(60000));
    expect(calls).toHaveLength(3); // and no more once it succeeded
  });

  it("does not retry what retrying cannot fix", async () => {
    vi.useFakeTimers();
    const calls = mockFetch({});
    const { result } = renderHook(() => useApi("/api/rounds/9/"));
    await act(() => vi.advanceTimersByTimeAsync(60000));
    expect(result.current.error?.status).toBe(404);
    expect(calls).toHaveLength(1);
  });

  it("refetches when the window regains focus or the network comes back", async () => {
    const calls = mockFetch({ "GET /api/rounds/": [] });
    renderHook(() => useApi("/api/rounds/"));
    await waitFor(() => expect(calls).toHaveLength(1));
    act(() => window.dispatchEvent(new Event("focus")));
    act(() => window.dispatchEvent(new Event("online")));
    await waitFor(() => expect(calls).toHaveLength(3));
  });
});
