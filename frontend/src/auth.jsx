import { createContext, useCallback, useContext, useEffect, useState } from "react";
import { api, onUnauthenticated } from "./api.js";

// Who is logged in: /api/me/ ({id, username, role, hospital: slug}); a hospital admin's hospital id comes from
// /api/hospitals/, which lists only their own hospital.

const AuthContext = createContext(null);

async function loadUser() {
  const me = await api.get("/api/me/");
  if (me.role === "coordinator") return { ...me, hospitalId: null };
  const hospitals = await api.get("/api/hospitals/");
  const own = hospitals.find((hospital) => hospital.slug === me.hospital) || hospitals[0];
  return { ...me, hospitalId: own?.id ?? null, hospitalName: own?.name ?? me.hospital };
}

export function AuthProvider({ children }) {
  // loggedOut: the user chose to leave, so the next login starts afresh instead of returning to their page.
  const [state, setState] = useState({ user: null, checking: true, error: null, expired: false, loggedOut: false });

  const refresh = useCallback(async () => {
    try {
      setState({ user: await loadUser(), checking: false, error: null, expired: false });
    } catch (error) {
      if (error.isUnauthenticated || error.status === 403) setState({ user: null, checking: false, error: null, expired: false });
      else setState({ user: null, checking: false, error, expired: false });
    }
  }, []);

  useEffect(() => {
    refresh();
    return onUnauthenticated(() => setState({ user: null, checking: false, error: null, expired: true }));
  }, [refresh]);

  const login = useCallback(async (username, password) => {
    await api.post("/api/auth/login/", { username, password });
    const user = await loadUser();
    setState({ user, checking: false, error: null, expired: false });
    return user;
  }, []);

  const logout = useCallback(async () => {
    try {
      await api.post("/api/auth/logout/");
    } finally {
      setState({ user: null, checking: false, error: null, expired: false, loggedOut: true });
    }
  }, []);

  return <AuthContext.Provider value={{ ...state, login, logout, refresh }}>{children}</AuthContext.Provider>;
}

export function useAuth() {
  return useContext(AuthContext);
}
