// The round websocket: /ws/rounds/ (coordinator: every round) or /ws/rounds/<id>/ (one round). The portal
// pushes {kind, round, seq, ...}. A dropped connection is retried with capped, jittered exponential backoff;
// every (re)connection calls onOpen so the page refetches what it may have missed while disconnected.

export const CLOSE_UNAUTHENTICATED = 4401;
export const CLOSE_FORBIDDEN = 4403;

export function backoffDelay(attempt, { baseMs = 500, maxMs = 15000, random = Math.random } = {}) {
  const ceiling = Math.min(maxMs, baseMs * 2 ** attempt);
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

export function socketUrl(path, location = window.location) {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${location.host}${path}`;
}

/**
 * status: "connecting" | "live" | "reconnecting" | "refused" | "closed".
 * Refused (closed by the portal with 4401/4403) is final: retrying cannot help until the user logs in again.
 */
export class LiveSocket {
  constructor(url, { onEvent, onOpen, onStatus, WebSocketImpl = globalThis.WebSocket, timers = globalThis, backoff = backoffDelay } = {}) {
    this.url = url;
    this.onEvent = onEvent || (() => {});
    this.onOpen = onOpen || (() => {});
    this.onStatus = onStatus || (() => {});
    this.WebSocketImpl = WebSocketImpl;
    this.timers = timers;
    this.backoff = backoff;
    this.attempt = 0;
    this.stopped = false;
    this.socket = null;
    this.retryTimer = null;
    this.status = "connecting";
    this.retryAt = null;
  }

  start() {
    this.stopped = false;
    this.connect();
    return this;
  }

  setStatus(status, extra = {}) {
    this.status = status;
    this.retryAt = extra.retryAt ?? null;
    this.onStatus({ status, attempt: this.attempt, retryAt: this.retryAt, closeCode: extra.closeCode ?? null });
  }

  connect() {
    this.retryTimer = null;
    if (this.stopped) return;
    this.setStatus(this.attempt === 0 ? "connecting" : "reconnecting");
    let socket;
    try {
      socket = new this.WebSocketImpl(this.url);
    } catch {
      this.scheduleRetry(null);
      return;
    }
    this.socket = socket;
    socket.onopen = () => {
      if (this.socket !== socket) return;
      this.attempt = 0;
      this.setStatus("live");
      this.onOpen();
    };
    socket.onmessage = (message) => {
      if (this.socket !== socket) return;
      let event;
      try {
        event = JSON.parse(message.data);
      } catch {
        return;
      }
      this.onEvent(event);
    };
    socket.onclose = (close) => {
      if (this.socket !== socket) return;
      this.socket = null;
      if (this.stopped) return;
      if (close?.code === CLOSE_UNAUTHENTICATED || close?.code === CLOSE_FORBIDDEN) {
        this.setStatus("refused", { closeCode: close.code });
        return;
      }
      this.scheduleRetry(close?.code ?? null);
    };
    socket.onerror = () => {
      // onclose follows an error; retrying happens there.
    };
  }

  scheduleRetry(closeCode) {
    const delay = this.backoff(this.attempt);
    this.attempt += 1;
    this.setStatus("reconnecting", { retryAt: Date.now() + delay, closeCode });
    this.retryTimer = this.timers.setTimeout(() => this.connect(), delay);
  }

  /** Retry now (the browser came back online, or the user asked). */
  retryNow() {
    if (this.stopped || this.socket) return;
    if (this.retryTimer) this.timers.clearTimeout(this.retryTimer);
    this.connect();
  }

  stop() {
    this.stopped = true;
    if (this.retryTimer) this.timers.clearTimeout(this.retryTimer);
    this.retryTimer = null;
    const socket = this.socket;
    this.socket = null;
    if (socket && socket.readyState <= 1) socket.close(1000, "page closed");
    this.setStatus("closed");
  }
}
