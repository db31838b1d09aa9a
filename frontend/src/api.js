import { fieldLabel } from "./labels.js";

// The portal's REST API over the session cookie. Every failure becomes an ApiError with a readable message:
// the API answers {"error": code, "detail": reason, "fields"?: {name: [messages] | {nested}}}.

export class ApiError extends Error {
  constructor(status, code, detail, fields = null) {
    super(detail);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.detail = detail;
    this.fields = fields;
  }

  /** Field errors flattened to {"config.lr": "Ensure this value ...", "participants": "..."}. */
  get fieldMessages() {
    return flattenFields(this.fields);
  }

  get isUnauthenticated() {
    return this.status === 401 || this.code === "not_authenticated";
  }

  /** The portal was unreachable or failed on its side: asking again later may succeed. */
  get isTransient() {
    return this.status === 0 || this.status >= 500;
  }
}

export function flattenFields(fields, prefix = "") {
  const out = {};
  if (fields == null) return out;
  if (Array.isArray(fields)) {
    if (fields.every((item) => typeof item === "string")) {
      out[prefix || "request"] = fields.join(" ");
    } else {
      fields.forEach((item, index) => Object.assign(out, flattenFields(item, prefix ? `${prefix}.${index}` : `${index}`)));
    }
    return out;
  }
  if (typeof fields === "object") {
    for (const [key, value] of Object.entries(fields)) {
      const name = key === "non_field_errors" ? prefix || "request" : prefix ? `${prefix}.${key}` : key;
      Object.assign(out, flattenFields(value, name));
    }
    return out;
  }
  out[prefix || "request"] = String(fields);
  return out;
}

/** One sentence for people: the detail, plus each invalid field when the API named them. */
export function errorMessage(error) {
  if (!error) return "";
  if (!(error instanceof ApiError)) return error.message || String(error);
  const fields = Object.entries(error.fieldMessages);
  if (fields.length === 0) return error.detail;
  const listed = fields.map(([name, message]) => `${fieldLabel(name)}: ${message}`).join("; ");
  return error.code === "invalid" ? listed : `${error.detail} ${listed}`;
}

export function readCookie(name, cookies = typeof document === "undefined" ? "" : document.cookie) {
  for (const part of cookies.split(";")) {
    const [key, ...rest] = part.trim().split("=");
    if (key === name) return decodeURIComponent(rest.join("="));
  }
  return "";
}

const unauthenticatedListeners = new Set();

/** Called when any request finds the session gone, so the app can show the login page. */
export function onUnauthenticated(listener) {
  unauthenticatedListeners.add(listener);
  return () => unauthenticatedListeners.delete(listener);
}

const UNSAFE = new Set(["POST", "PUT", "PATCH", "DELETE"]);

export async function request(method, path, { body, signal } = {}) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  // Django rotates the CSRF token at login: read the cookie on every request, never cache it.
  if (UNSAFE.has(method)) headers["X-CSRFToken"] = readCookie("csrftoken");
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
      signal,
    });
  } catch (cause) {
    if (cause?.name === "AbortError") throw cause;
    throw new ApiError(0, "network", "Cannot reach the portal. Check your connection; the page keeps retrying.");
  }
  if (response.status === 204) return null;
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (response.ok) return data;
  const error =
    data && typeof data === "object" && "detail" in data
      ? new ApiError(response.status, data.error || "error", String(data.detail), data.fields || null)
      : new ApiError(response.status, "http", `The portal answered ${response.status} ${response.statusText || ""}`.trim() + ".");
  if (error.isUnauthenticated && path !== "/api/me/" && path !== "/api/auth/login/") {
    unauthenticatedListeners.forEach((listener) => listener(error));
  }
  throw error;
}

export const api = {
  get: (path, options) => request("GET", path, options),
  post: (path, body, options) => request("POST", path, { ...options, body }),
  put: (path, body, options) => request("PUT", path, { ...options, body }),
  delete: (path, options) => request("DELETE", path, options),
};
