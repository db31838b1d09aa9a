import { vi } from "vitest";

/** A WebSocket the test drives: FakeWebSocket.instances holds every socket the code opened. */
export class FakeWebSocket {
  static instances = [];

  constructor(url) {
    this.url = url;
    this.readyState = 0;
    this.closedByClient = null;
    FakeWebSocket.instances.push(this);
  }

  open() {
    this.readyState = 1;
    this.onopen?.({});
  }

  push(event) {
    this.onmessage?.({ data: JSON.stringify(event) });
  }

  drop(code = 1006) {
    this.readyState = 3;
    this.onclose?.({ code });
  }

  close(code, reason) {
    this.readyState = 3;
    this.closedByClient = { code, reason };
  }

  static reset() {
    FakeWebSocket.instances = [];
  }

  static last() {
    return FakeWebSocket.instances[FakeWebSocket.instances.length - 1];
  }
}

function jsonResponse(status, body) {
  return new Response(body === undefined ? null : JSON.stringify(body), {
    status,
    headers: { "Content-Type": "application/json" },
  });
}

/**
 * fetch answered from `routes`: {"GET /api/me/": body | (request) => [status, body] | body}. Unknown routes
 * answer 404 in the API's error shape. Returns the mock, whose .calls list [method, path, body].
 */
export function mockFetch(routes) {
  const calls = [];
  const mock = vi.fn(async (path, init = {}) => {
    const method = init.method || "GET";
    const body = init.body ? JSON.parse(init.body) : undefined;
    calls.push({ method, path, body, headers: init.headers || {} });
    const route = routes[`${method} ${path}`];
    if (route === undefined) return jsonResponse(404, { error: "not_found", detail: `No route ${method} ${path}` });
    const answer = typeof route === "function" ? route({ method, path, body }) : route;
    if (Array.isArray(answer) && answer.length === 2 && typeof answer[0] === "number") return jsonResponse(answer[0], answer[1]);
    return jsonResponse(200, answer);
  });
  mock.calls_ = calls;
  globalThis.fetch = mock;
  return calls;
}
