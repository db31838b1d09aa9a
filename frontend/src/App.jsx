import { useState } from "react";
import { BrowserRouter, Navigate, NavLink, Outlet, Route, Routes, useLocation, useNavigate } from "react-router-dom";
import { AuthProvider, useAuth } from "./auth.jsx";
import { ErrorState, Loading } from "./components/States.jsx";
import { useDocumentTitle } from "./hooks.js";
import { AuditPage } from "./pages/AuditPage.jsx";
import { CampaignsPage } from "./pages/CampaignsPage.jsx";
import { DashboardPage } from "./pages/DashboardPage.jsx";
import { HospitalPage } from "./pages/HospitalPage.jsx";
import { HospitalsPage } from "./pages/HospitalsPage.jsx";
import { LoginPage } from "./pages/LoginPage.jsx";
import { ModelsPage } from "./pages/ModelsPage.jsx";
import { PlanRoundPage } from "./pages/PlanRoundPage.jsx";
import { RoundPage } from "./pages/RoundPage.jsx";
import { RoundsPage } from "./pages/RoundsPage.jsx";

export default function App() {
  return (
    <AuthProvider>
      <BrowserRouter>
        <AppRoutes />
      </BrowserRouter>
    </AuthProvider>
  );
}

export function AppRoutes() {
  return (
    <Routes>
      <Route path="/login" element={<LoginPage />} />
      <Route element={<RequireLogin />}>
        <Route element={<Layout />}>
          <Route index element={<Home />} />
          <Route path="rounds" element={<RoundsPage />} />
          <Route path="rounds/new" element={<CoordinatorOnly page={<PlanRoundPage />} />} />
          <Route path="rounds/:roundId" element={<RoundPage />} />
          <Route path="campaigns" element={<CampaignsPage />} />
          <Route path="hospitals" element={<CoordinatorOnly page={<HospitalsPage />} />} />
          <Route path="hospitals/:hospitalId" element={<HospitalPage />} />
          <Route path="models" element={<ModelsPage />} />
          <Route path="audit" element={<CoordinatorOnly page={<AuditPage />} />} />
          <Route path="*" element={<NotFound />} />
        </Route>
      </Route>
    </Routes>
  );
}

function RequireLogin() {
  const { user, checking, error, refresh, loggedOut } = useAuth();
  const location = useLocation();
  if (checking) return <Loading label="Checking your session…" />;
  if (error) {
    return (
      <main className="centered">
        <ErrorState error={error} onRetry={refresh} />
      </main>
    );
  }
  if (!user) return <Navigate to="/login" replace state={loggedOut ? null : { from: location.pathname + location.search }} />;
  return <Outlet />;
}

function Home() {
  const { user } = useAuth();
  if (user.role === "coordinator") return <DashboardPage />;
  if (user.hospitalId != null) return <Navigate to={`/hospitals/${user.hospitalId}`} replace />;
  return <RefusalPage title="No hospital" message="Your account is not linked to a hospital; ask the coordinator." />;
}

function CoordinatorOnly({ page }) {
  const { user } = useAuth();
  if (user.role === "coordinator") return page;
  return (
    <RefusalPage
      title="Refused"
      message="This page is for the consortium coordinator. You can see your own hospital, its rounds and its submissions."
    />
  );
}

function NotFound() {
  return <RefusalPage title="No such page" message="Check the address, or use the menu." />;
}

function RefusalPage({ title, message }) {
  useDocumentTitle(title);
  return <ErrorState title={title} error={new Error(message)} />;
}

function Layout() {
  const { user, logout } = useAuth();
  const navigate = useNavigate();
  // On a narrow screen the menu folds into a bar with a toggle (styles.css); choosing a page closes it again.
  const [menuOpen, setMenuOpen] = useState(false);
  const coordinator = user.role === "coordinator";
  const links = coordinator
    ? [
        ["/", "Overview"],
        ["/rounds", "Rounds"],
        ["/rounds/new", "Plan a round"],
        ["/campaigns", "Campaigns"],
        ["/hospitals", "Hospitals"],
        ["/models", "Models"],
        ["/audit", "Audit trail"],
      ]
    : [
        [`/hospitals/${user.hospitalId}`, "My hospital"],
        ["/rounds", "Rounds"],
        ["/campaigns", "Campaigns"],
        ["/models", "Global model"],
      ];
  return (
    <div className="shell">
      <header className="sidebar">
        <div className="sidebar-bar">
          <div className="brand">
            <span className="brand-mark" aria-hidden="true">
              +
            </span>
            DecentraHealth
          </div>
          <button
            type="button"
            className="button menu-toggle"
            aria-expanded={menuOpen}
            aria-controls="main-menu"
            onClick={() => setMenuOpen(!menuOpen)}
          >
            {menuOpen ? "Close menu" : "Menu"}
          </button>
        </div>
        <div id="main-menu" className={`sidebar-menu${menuOpen ? " open" : ""}`}>
          <nav aria-label="Main">
            <ul>
              {links.map(([to, label]) => (
                <li key={to}>
                  <NavLink to={to} end={to === "/" || to === "/rounds"} onClick={() => setMenuOpen(false)}>
                    {label}
                  </NavLink>
                </li>
              ))}
            </ul>
          </nav>
          <div className="whoami">
            <div className="whoami-name" data-testid="whoami">
              {user.username}
            </div>
            <div className="hint">{coordinator ? "Coordinator" : `Admin · ${user.hospitalName}`}</div>
            <button
              type="button"
              className="button link"
              onClick={async () => {
                await logout();
                navigate("/login");
              }}
            >
              Log out
            </button>
          </div>
        </div>
      </header>
      <main className="content">
        <Outlet />
      </main>
    </div>
  );
}
