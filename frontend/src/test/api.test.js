import { afterEach, describe, expect, it, vi } from "vitest";
import { api, ApiError, errorMessage, flattenFields, onUnauthenticated, readCookie } from "../api.js";
import { mockFetch } from "./fakes.js";

afterEach(() => {
  document.cookie = "csrftoken=; expires=Thu, 01 Jan 1970 00:00:00 GMT";
});

describe("errors", () => {
  it("flattens nested field errors", () => {
    expect(flattenFields({ config: { lr: ["Too big."] }, participants: ["Required."], non_field_errors: ["Bad."] })).toEqual({
      "config.lr": "Too big.",
      participants: "Required.",
      request: "Bad.",
    });
  });

  it("says which fields are wrong, in words", () => {
    const error = new ApiError(400, "invalid", "The request has invalid fields.", { quorum: ["Ensure this value is greater than or equal to 1."] });
    expect(errorMessage(error)).toBe("Quorum: Ensure this value is greater than or equal to 1.");
  });

  it("uses the detail of a domain error", () => {
    expect(errorMessage(new ApiError(409, "conflict", "A round in state COMPLETED cannot become CANCELLED"))).toBe(
      "A round in state COMPLETED cannot become CANCELLED",
    );
  });
});

describe("request", () => {
  it("sends the CSRF cookie as a header on unsafe methods only", async () => {
    document.cookie = "csrftoken=abc123";
    expect(readCookie("csrftoken")).toBe("abc123");
    const calls = mockFetch({ "POST /api/rounds/1/approve/": { id: 1 }, "GET /api/rounds/": [] });
    await api.post("/api/rounds/1/approve/");
    await api.get("/api/rounds/");
    expect(calls[0].headers["X-CSRFToken"]).toBe("abc123");
    expect(calls[1].headers["X-CSRFToken"]).toBeUndefined();
  });

  it("turns the API's error shape into an ApiError", async () => {
    mockFetch({ "POST /api/auth/login/": [403, { error: "forbidden", detail: "Wrong username or password" }] });
    const error = await api.post("/api/auth/login/", { username: "x", password: "y" }).catch((e) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect(error.status).toBe(403);
    expect(errorMessage(error)).toBe("Wrong username or password");
  });

  it("explains a network failure and a non-JSON answer", async () => {
    globalThis.fetch = vi.fn(async () => {
      throw new TypeError("Failed to fetch");
    });
    expect(errorMessage(await api.get("/api/rounds/").catch((e) => e))).toMatch(/Cannot reach the portal/);
    globalThis.fetch = vi.fn(async () => new Response("<html>bad gateway</html>", { status: 502, statusText: "Bad Gateway" }));
    expect(errorMessage(await api.get("/api/rounds/").catch((e) => e))).toBe("The portal answered 502 Bad Gateway.");
  });

  it("tells the app when the session is gone", async () => {
    mockFetch({ "GET /api/rounds/": [401, { error: "not_authenticated", detail: "Authentication credentials were not provided." }] });
    const listener = vi.fn();
    const unsubscribe = onUnauthenticated(listener);
    await api.get("/api/rounds/").catch(() => {});
    unsubscribe();
    expect(listener).toHaveBeenCalledTimes(1);
  });
});
