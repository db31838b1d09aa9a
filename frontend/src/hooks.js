import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import { api } from "./api.js";
import { backoffDelay, LiveSocket, socketUrl } from "./live.js";

const APP_NAME = "DecentraHealth";

/** Sets the window title to "`title` · DecentraHealth", so tabs and history entries say which page is which. */
export function useDocumentTitle(title) {
  useEffect(() => {
    document.title = title ? `${title} · ${APP_NAME}` : APP_NAME;
  }, [title]);
}

/** Up to 2, 4, 8, then 10 s, jittered like the websocket's so that open tabs do not all retry at once. */
function retryDelay(attempt) {
  return backoffDelay(attempt, { baseMs: 2000, maxMs: 10000 });
}

/**
 * GET `path` (skipped while null). Keeps the last data while reloading so live refreshes do not flicker.
 * A failure the portal may recover from (unreachable, 5xx) is retried with backoff, and the error clears as
 * soon as a retry succeeds; the window regaining focus or the network refetches too, so a page opened during
 * an outage does not keep its error after the portal is back.
 * Returns {data, error, loading, reload}; `loading` is true only until the first answer.
 */
export function useApi(path) {
  const [state, setState] = useState({ data: undefined, error: null, loading: path != null });
  const generation = useRef(0);
  const pathRef = useRef(path);
  pathRef.current = path;
  const retry = useRef({ attempt: 0, timer: null });

  const load = useCallback(async () => {
    const current = pathRef.current;
    if (current == null) return;
    clearTimeout(retry.current.timer);
    const mine = ++generation.current;
    try {
      const data = await api.get(current);
      if (mine !== generation.current) return;
      retry.current.attempt = 0;
      setState({ data, error: null, loading: false });
    } catch (error) {
      if (mine !== generation.current) return;
      setState((previous) => ({ ...previous, error, loading: false }));
      if (error.isTransient) retry.current.timer = setTimeout(load, retryDelay(retry.current.attempt++));
    }
  }, []);

  useEffect(() => {
    setState({ data: undefined, error: null, loading: path != null });
    load();
    if (path == null) return undefined;
    window.addEventListener("focus", load);
    window.addEventListener("online", load);
    const pending = retry.current;
    return () => {
      generation.current += 1;
      clearTimeout(pending.timer);
      pending.attempt = 0;
      window.removeEventListener("focus", load);
      window.removeEventListener("online", load);
    };
  }, [path, load]);

  return { ...state, reload: load };
}

/** `callback` at most once per `delayMs`, trailing: a burst of websocket events causes one refetch. */
export function useCoalesced(callback, delayMs = 200) {
  const latest = useRef(callback);
  latest.current = callback;
  const timer = useRef(null);
  useEffect(() => () => clearTimeout(timer.current), []);
  return useCallback(() => {
    if (timer.current) return;
    timer.current = setTimeout(() => {
      timer.current = null;
      latest.current();
    }, delayMs);
  }, [delayMs]);
}

export function useInterval(callback, delayMs) {
  const latest = useRef(callback);
  latest.current = callback;
  useEffect(() => {
    if (!delayMs) return undefined;
    const id = setInterval(() => latest.current(), delayMs);
    return () => clearInterval(id);
  }, [delayMs]);
}

/** The current time, refreshed every `delayMs` (not at all while null). */
export function useNow(delayMs) {
  const [now, setNow] = useState(() => Date.now());
  useInterval(() => setNow(Date.now()), delayMs);
  return now;
}

const STATUS_RANK = { refused: 0, reconnecting: 1, connecting: 2, live: 3, closed: 4 };

/**
 * One websocket per path in `paths` (e.g. ["/ws/rounds/"]), reconnecting on its own. `onEvent(event)` for
 * each pushed event, `onOpen()` on every (re)connection: refetch there. Returns the worst status of all.
 */
export function useLiveSockets(paths, { onEvent, onOpen }) {
  const handlers = useRef({ onEvent, onOpen });
  handlers.current = { onEvent, onOpen };
  const key = paths.join(" ");
  const [statuses, setStatuses] = useState({});

  useEffect(() => {
    const list = key ? key.split(" ") : [];
    const sockets = list.map((path) =>
      new LiveSocket(socketUrl(path), {
        onEvent: (event) => handlers.current.onEvent?.(event),
        onOpen: () => handlers.current.onOpen?.(),
        onStatus: (status) => setStatuses((previous) => ({ ...previous, [path]: status })),
      }).start(),
    );
    const online = () => sockets.forEach((socket) => socket.retryNow());
    window.addEventListener("online", online);
    return () => {
      window.removeEventListener("online", online);
      sockets.forEach((socket) => socket.stop());
      setStatuses({});
    };
  }, [key]);

  return useMemo(() => {
    const list = key ? key.split(" ").map((path) => statuses[path]).filter(Boolean) : [];
    if (list.length === 0) return { status: key ? "connecting" : "idle", retryAt: null, closeCode: null };
    return list.reduce((worst, current) => (STATUS_RANK[current.status] < STATUS_RANK[worst.status] ? current : worst));
  }, [key, statuses]);
}

function readDraft(key) {
  try {
    const saved = JSON.parse(window.localStorage.getItem(key));
    return saved && typeof saved === "object" && saved.values ? saved : null;
  } catch {
    return null;
  }
}

function writeDraft(key, draft) {
  try {
    if (draft) window.localStorage.setItem(key, JSON.stringify(draft));
    else window.localStorage.removeItem(key);
  } catch {
    // Storage full or disabled (private browsing): the form still works, it just cannot survive a reload.
  }
}

/**
 * A form's values, kept in localStorage under `key` from the first edit until `clear()` (call it once the
 * server has accepted the form), so an unsent form survives a reload or an outage. `initial()` gives fresh
 * values; `restore(saved)` turns stored values into usable ones (or null when they no longer fit).
 * Returns {values, update(changes), restoredAt (ISO time of the restored draft, else null), clear, discard}.
 */
export function useDraft(key, initial, restore) {
  const [start] = useState(() => {
    const saved = readDraft(key);
    const values = saved && restore(saved.values);
    return values ? { values, savedAt: saved.savedAt } : { values: initial(), savedAt: null };
  });
  const [values, setValues] = useState(start.values);
  const [restoredAt, setRestoredAt] = useState(start.savedAt);
  const edited = useRef(start.savedAt != null);

  useEffect(() => {
    if (edited.current) writeDraft(key, { values, savedAt: new Date().toISOString() });
  }, [key, values]);

  const update = useCallback((changes) => {
    edited.current = true;
    setValues((previous) => ({ ...previous, ...changes }));
  }, []);
  const clear = useCallback(() => {
    edited.current = false;
    writeDraft(key, null);
  }, [key]);
  const discard = useCallback(() => {
    clear();
    setRestoredAt(null);
    setValues(initial());
  }, [clear, initial]);

  return { values, update, restoredAt, clear, discard };
}

/** A POST behind a button: `post(path, body)` sets `busy` while it runs and `error` when the portal refuses, and
 * calls `onDone` after a success. */
export function usePost(onDone) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const post = async (path, body) => {
    setBusy(true);
    setError(null);
    try {
      await api.post(path, body);
      onDone();
    } catch (failure) {
      setError(failure);
    } finally {
      setBusy(false);
    }
  };
  return { busy, error, post };
}
