import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import { api } from "./api.js";
import { LiveSocket, socketUrl } from "./live.js";

/**
 * GET `path` (skipped while null). Keeps the last data while reloading so live refreshes do not flicker.
 * Returns {data, error, loading, reload}; `loading` is true only until the first answer.
 */
export function useApi(path) {
  const [state, setState] = useState({ data: undefined, error: null, loading: path != null });
  const generation = useRef(0);
  const pathRef = useRef(path);
  pathRef.current = path;

  const load = useCallback(async () => {
    const current = pathRef.current;
    if (current == null) return;
    const mine = ++generation.current;
    try {
      const data = await api.get(current);
      if (mine === generation.current) setState({ data, error: null, loading: false });
    } catch (error) {
      if (mine === generation.current) setState((previous) => ({ ...previous, error, loading: false }));
    }
  }, []);

  useEffect(() => {
    setState({ data: undefined, error: null, loading: path != null });
    load();
    return () => {
      generation.current += 1;
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
