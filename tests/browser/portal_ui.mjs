// Browser test of the web interface in headless Chromium (playwright-core, the system chromium).
// Run by test_browser.py against a portal started by serve_portal.py; exits non-zero on the first failure.
//
// Environment: DH_BROWSER_FIXTURE (JSON from serve_portal.py: base URL, credentials, hospital ids),
// DH_SCREENSHOT_DIR (where the screenshots go), DH_CHROMIUM (default /usr/bin/chromium).
// Every page is also checked at a desktop and a phone size (layoutTour): no wider than the window, its own
// title, and no serious accessibility problem found by axe-core (frontend/node_modules, `npm --prefix frontend ci`).

import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const fixture = JSON.parse(process.env.DH_BROWSER_FIXTURE);
const base = fixture.base_url;
const shots = process.env.DH_SCREENSHOT_DIR || "var/screenshots";
mkdirSync(shots, { recursive: true });
const started = Date.now();
const ROUND_TIMEOUT = 90_000;
const SIZES = [
  { width: 1360, height: 900 },
  { width: 390, height: 844 },
];
const AXE = fileURLToPath(new URL("../../frontend/node_modules/axe-core/axe.min.js", import.meta.url));
const DRAFT_KEY = "dh.draft.plan-round";

function log(message) {
  console.log(`[${((Date.now() - started) / 1000).toFixed(1).padStart(5)} s] ${message}`);
}

function check(condition, message) {
  if (!condition) throw new Error(`check failed: ${message}`);
}

async function shot(page, name) {
  const path = join(shots, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  log(`screenshot ${path}`);
}

const browser = await chromium.launch({
  executablePath: process.env.DH_CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-background-networking", "--disable-gpu", "--disable-component-update", "--no-first-run"],
});
const context = await browser.newContext({ viewport: SIZES[0] });
context.setDefaultTimeout(15_000);
// Whatever the content security policy (web/csp.py) blocks shows as a page error, and fails the test.
await context.addInitScript(() => {
  document.addEventListener("securitypolicyviolation", (event) => {
    console.error(`CSP violation: ${event.violatedDirective} blocked ${event.blockedURI || "inline code"} in ${event.sourceFile || event.documentURI}`);
  });
});

// Every round websocket goes through this route, so the test can drop connections and hold the portal
// unreachable for a while, as a flaky network would: while held, a new connection hangs in its handshake.
const sockets = new Set();
let reachable = Promise.resolve();
let makeReachable = () => {};
function holdPortal() {
  reachable = new Promise((resolve) => {
    makeReachable = resolve;
  });
}
await context.routeWebSocket(/\/ws\/rounds\//, async (ws) => {
  await reachable;
  const server = ws.connectToServer();
  const pair = { ws, server };
  sockets.add(pair);
  ws.onClose(() => sockets.delete(pair));
});
async function dropSockets() {
  const count = sockets.size;
  for (const { ws, server } of [...sockets]) {
    await server.close().catch(() => {});
    await ws.close({ code: 4000, reason: "dropped by the test" }).catch(() => {});
  }
  sockets.clear();
  return count;
}

const page = await context.newPage();
const pageErrors = [];
page.on("pageerror", (error) => pageErrors.push(error.message));
page.on("console", (message) => {
  if (message.type() === "error" && !/WebSocket|Failed to load resource/.test(message.text())) pageErrors.push(message.text());
});

async function csrfPost(path, body) {
  const cookies = await context.cookies(base);
  const csrf = cookies.find((cookie) => cookie.name === "csrftoken")?.value || "";
  const response = await page.request.post(base + path, { data: body, headers: { "X-CSRFToken": csrf, Referer: base + "/" } });
  check(response.ok(), `POST ${path} answered ${response.status()}: ${await response.text()}`);
  return response.json();
}

async function apiGet(path) {
  const response = await page.request.get(base + path);
  check(response.ok(), `GET ${path} answered ${response.status()}`);
  return response.json();
}

async function login(username, password) {
  await page.goto(base + "/login");
  await page.getByLabel("Username").fill(username);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Log in" }).click();
  // "attached": on a phone the menu holding the name is folded away.
  await page.getByTestId("whoami").filter({ hasText: username }).waitFor({ state: "attached" });
}

/** On a phone the menu is a bar with a toggle: open it, check it opened, and leave it open. */
async function openMenu() {
  const toggle = page.getByRole("button", { name: "Menu", exact: true });
  if (!(await toggle.isVisible())) return false;
  await toggle.click();
  check((await page.getByRole("button", { name: "Close menu" }).getAttribute("aria-expanded")) === "true", "the menu toggle says it is open");
  return true;
}

async function logout() {
  await openMenu();
  await page.getByRole("button", { name: "Log out" }).click();
  await page.getByRole("button", { name: "Log in" }).waitFor();
}

async function waitForLive() {
  await page.locator('[data-testid=live-status][data-status="live"]').waitFor({ timeout: 20_000 });
}

async function planRoundViaApi(participants, quorum = participants.length) {
  const models = await apiGet("/api/models/");
  const round = await csrfPost("/api/rounds/", {
    base_model: models[models.length - 1].id,
    config: { local_epochs: 1, batch_size: 16, proof_steps: 1 },
    participants,
    quorum,
    deadline: new Date(Date.now() + 3600_000).toISOString(),
    protection: "plaintext",
  });
  return round.id;
}

async function planRoundWithTheForm() {
  log("coordinator: plans a round with the form: online hospitals ticked, proof steps hidden without proofs");
  await page.getByRole("link", { name: "Plan a round" }).click();
  await page.getByRole("heading", { name: "Training" }).waitFor();
  const field = (label) => page.getByLabel(label, { exact: true });
  check((await field("Update protection").inputValue()) === "plaintext", "the portal's default protection is chosen");
  check((await page.locator('input[name="config.proof_steps"]').count()) === 0, "no proof steps are asked for while proofs are off");
  for (const slug of fixture.hospital_slugs) {
    check(await page.locator(`input[name=participants][value="${slug}"]`).isChecked(), `${slug}, online, is ticked`);
  }
  const four = page.locator('input[name=participants][value="hospital-four"]');
  check(!(await four.isChecked()), "Hospital Four, never connected, is not ticked");
  await four.setChecked(true);
  await page.getByTestId("offline-warning").filter({ hasText: "Hospital Four (never connected)" }).waitFor();
  await checkAccessibility("the plan form warning about a hospital that never connected");
  await four.setChecked(false);
  await page.getByTestId("offline-warning").waitFor({ state: "detached" });
  check((await field("Quorum").inputValue()) === "3", "the quorum follows the ticked online hospitals");

  log("coordinator: every problem shows at once beside its field; the unsent plan survives a reload");
  const deadline = await field("Deadline").inputValue();
  await field("Deadline").fill("2020-01-01T10:00");
  await field("Local epochs").fill("");
  await page.getByRole("button", { name: "Create the draft round" }).click();
  await page.getByRole("alert").filter({ hasText: "Please correct the 2 highlighted fields." }).waitFor();
  await page.locator(".field-error").filter({ hasText: "The deadline must be in the future." }).waitFor();
  await page.locator(".field-error").filter({ hasText: "Required." }).waitFor();
  check(page.url().endsWith("/rounds/new"), "nothing was sent");
  await checkAccessibility("the plan form showing its errors");
  await field("Local epochs").fill("1");
  await field("Batch size").fill("16");
  await field("Deadline").fill(deadline);
  await page.reload();
  await page.getByTestId("draft-restored").waitFor();
  check((await field("Batch size").inputValue()) === "16" && (await field("Deadline").inputValue()) === deadline, "the draft was restored");

  log("coordinator: the portal's own refusal shows too (proofs of training need the fixed-point head)");
  await field("Proofs of training").selectOption("groth16");
  await field("Proofs per hospital").waitFor();
  await field("Loss function").selectOption("cross_entropy");
  await page.getByRole("button", { name: "Create the draft round" }).click();
  await page.getByRole("alert").filter({ hasText: "fixed-point head" }).waitFor();
  await field("Proofs of training").selectOption("none");
  await field("Loss function").selectOption("mse_onehot");
  await shot(page, "04-plan-round");
  await page.getByRole("button", { name: "Create the draft round" }).click();
  await page.waitForURL(/\/rounds\/\d+$/);
  check((await page.evaluate((key) => localStorage.getItem(key), DRAFT_KEY)) === null, "the sent plan's draft is gone");
  return Number(page.url().split("/").pop());
}

async function coordinatorJourney() {
  const { username, password } = fixture.coordinator;

  log("coordinator: a wrong password is refused with a readable message");
  await page.goto(base + "/");
  await page.waitForURL(/\/login$/);
  await shot(page, "01-login");
  await page.getByLabel("Username").fill(username);
  await page.getByLabel("Password").fill("not-the-password");
  await page.getByRole("button", { name: "Log in" }).click();
  await page.getByRole("alert").filter({ hasText: "Wrong username or password" }).waitFor();

  log("coordinator: logs in and sees the overview, live");
  await login(username, password);
  await page.getByRole("heading", { name: "Overview" }).waitFor();
  await waitForLive();
  await page.getByTestId("accuracy-chart").waitFor();

  log("coordinator: registers a hospital, sees its node token once, revokes it");
  await page.getByRole("link", { name: "Hospitals" }).click();
  await page.getByRole("heading", { name: "Registered hospitals" }).waitFor();
  await page.getByLabel("Hospital name").fill("Hospital 1");
  await page.getByLabel("Admin username").fill("someone");
  await page.getByLabel("Admin password").fill("long-enough-password");
  await page.getByRole("button", { name: "Register hospital" }).click();
  await page.getByRole("alert").filter({ hasText: "already registered" }).waitFor(); // the API's conflict, in words
  await page.getByLabel("Hospital name").fill("Hospital Four");
  await page.getByLabel("Admin username").fill("admin4");
  await page.getByRole("button", { name: "Register hospital" }).click();
  const token = await page.getByTestId("token-value").textContent();
  check(/^node_/.test(token.trim()), `a node token is shown once, got ${token}`);
  await shot(page, "03-hospitals-token-shown-once");
  await page.getByRole("button", { name: /hide the token/ }).click();
  check((await page.getByTestId("token-value").count()) === 0, "the token is gone once dismissed");
  const row = page.locator("tr[data-hospital=hospital-four]");
  await row.getByRole("button", { name: "Revoke token" }).click();
  await row.getByRole("button", { name: "Confirm revoke" }).click();
  await row.getByText("Revoked").waitFor();

  const liveRound = await planRoundWithTheForm();
  await page.getByTestId("round-state").filter({ hasText: "DRAFT" }).waitFor();
  await page.getByTestId("protection").filter({ hasText: "Plaintext (benchmark baseline only)" }).waitFor();
  await waitForLive();

  log(`coordinator: the websocket drops and comes back before approval (round ${liveRound})`);
  check((await dropSockets()) >= 1, "a round websocket was open");
  await page.locator('[data-testid=live-status][data-status="reconnecting"]').waitFor({ timeout: 5_000 });
  await waitForLive();

  log("coordinator: approves and watches the round reach COMPLETED without reloading");
  await page.evaluate(() => {
    window.__sameDocument = true;
    window.__seen = [];
    window.__liveEventsShown = 0;
    const record = () => {
      // Websocket events show in the timeline, marked "live", until the refetch they trigger replaces them.
      window.__liveEventsShown = Math.max(window.__liveEventsShown, document.querySelectorAll(".event-live").length);
      const state = document.querySelector("[data-testid=round-state]")?.textContent;
      const progress = document.querySelector(".progress-text")?.textContent;
      const entry = `${state} ${progress}`;
      if (window.__seen[window.__seen.length - 1] !== entry) window.__seen.push(entry);
    };
    new MutationObserver(record).observe(document.body, { subtree: true, childList: true, characterData: true });
  });
  await page.getByRole("button", { name: "Approve round" }).click();
  await page.getByTestId("round-state").filter({ hasText: "COMPLETED" }).waitFor({ timeout: ROUND_TIMEOUT });
  const seen = await page.evaluate(() => window.__seen);
  log(`  states seen live: ${seen.join(" | ")}`);
  check(await page.evaluate(() => window.__sameDocument === true), "the page was not reloaded");
  check(seen.some((entry) => /^(APPROVED|OPEN|COLLECTING|AGGREGATING)/.test(entry)), "intermediate states were shown");
  check(seen[seen.length - 1] === "COMPLETED 3/3", "the round ends COMPLETED with all three updates");
  check((await page.evaluate(() => window.__liveEventsShown)) > 0, "websocket events were shown as they arrived");
  await page.locator("[data-testid=participants] li").filter({ hasText: "Update received" }).nth(2).waitFor();
  check((await page.locator("[data-testid=event-list] [data-kind=submission]").count()) === 3, "three submissions in the timeline");
  await page.locator("[data-testid=event-list] [data-kind=model]").waitFor();
  await page.locator("[data-testid=stage-stepper] [data-stage=COMPLETED][data-status=done]").waitFor();
  await page.getByTestId("round-result").getByText(/Global model v\d+/).waitFor();
  await page.getByTestId("submission-table").getByText("no proof required").first().waitFor();
  await shot(page, "05-round-completed-live");

  log("coordinator: the portal is unreachable during a whole round; reconnecting refetches it");
  const heldRound = await planRoundViaApi(fixture.hospital_slugs);
  await page.goto(`${base}/rounds/${heldRound}`);
  await waitForLive();
  await page.waitForLoadState("networkidle"); // let the refetch that follows every (re)connection finish first
  holdPortal();
  await dropSockets();
  await page.locator('[data-testid=live-status][data-status="reconnecting"]').waitFor({ timeout: 5_000 });
  await csrfPost(`/api/rounds/${heldRound}/approve/`, {});
  for (let waited = 0; (await apiGet(`/api/rounds/${heldRound}/`)).state !== "COMPLETED"; waited += 250) {
    check(waited < ROUND_TIMEOUT, `round ${heldRound} completes on the portal`);
    await page.waitForTimeout(250);
  }
  const stale = await page.getByTestId("round-state").textContent();
  check(stale !== "COMPLETED", `while disconnected the page cannot know the round completed (shows ${stale})`);
  await shot(page, "06-round-disconnected");
  makeReachable();
  await page.getByTestId("round-state").filter({ hasText: "COMPLETED" }).waitFor({ timeout: 25_000 });
  log(`  reconnected and refetched: COMPLETED (showed ${stale} while disconnected)`);

  log("coordinator: a round waits for a node that never connected; aggregates now once the quorum is in");
  const waiting = await planRoundViaApi([...fixture.hospital_slugs, "hospital-four"], fixture.hospital_slugs.length);
  await csrfPost(`/api/rounds/${waiting}/approve/`, {});
  await page.goto(`${base}/rounds/${waiting}`);
  await page.getByRole("button", { name: "Aggregate now" }).waitFor({ timeout: ROUND_TIMEOUT });
  await page.getByTestId("countdown").filter({ hasText: /^Aggregates in \d+:\d\d or when all have submitted$/ }).waitFor();
  await page.locator("[data-testid=participants] [data-hospital=hospital-four]").filter({ hasText: "Waiting for node" }).waitFor();
  await page.getByRole("button", { name: "Aggregate now" }).click();
  await checkAccessibility("a collecting round asking to confirm aggregating now");
  await shot(page, "21-round-aggregate-now");
  await page.getByRole("button", { name: "Aggregate the 3 of 4 updates now" }).click();
  await page.getByTestId("round-state").filter({ hasText: "COMPLETED" }).waitFor({ timeout: ROUND_TIMEOUT });

  log("coordinator: overview with the accuracy chart, models and the audit trail");
  await page.getByRole("link", { name: "Overview" }).click();
  await page.getByRole("heading", { name: "Overview" }).waitFor();
  const points = page.locator("[data-testid=accuracy-chart] [data-series=val_accuracy] circle");
  await points.nth(3).waitFor(); // one point per completed round: the seeded one and the three above
  check((await points.count()) === 4, `four points on the chart, not ${await points.count()}`);
  await shot(page, "02-overview");
  await page.getByRole("link", { name: "Models" }).click();
  await page.getByTestId("model-table").waitFor();
  await shot(page, "07-models");
  await page.getByRole("link", { name: "Audit trail" }).click();
  await page.getByTestId("audit-table").waitFor();
  check((await page.locator("[data-testid=audit-table] tr[data-kind=state]").count()) >= 15, "state changes are in the audit trail");
  await shot(page, "08-audit-trail");

  await planCampaignWithTheForm();
  const draft = await planRoundViaApi(fixture.hospital_slugs);
  await logout();
  return { draft, completed: liveRound };
}

async function planCampaignWithTheForm() {
  log("coordinator: plans a campaign with the same form (a schedule instead of a deadline); it waits for approval");
  await page.getByRole("link", { name: "Plan a round" }).click();
  await page.getByRole("heading", { name: "Schedule" }).waitFor();
  const field = (label) => page.getByLabel(label, { exact: true });
  await field("Run as a campaign of rounds").setChecked(true);
  check((await field("Deadline").count()) === 0, "a campaign asks for no deadline");
  await page.getByRole("button", { name: "Create the draft campaign" }).click();
  await page.locator(".field-error").filter({ hasText: "Name the campaign." }).waitFor();
  await checkAccessibility("the plan form as a campaign, showing its errors");
  await field("Campaign name").fill("Browser campaign");
  await field("Rounds").fill("3");
  await field("Minutes per round").fill("20");
  await field("Target validation AUC").fill("0.99");
  await page.getByRole("button", { name: "Create the draft campaign" }).click();
  await page.waitForURL(/\/campaigns$/);
  const card = page.locator("section.card").filter({ hasText: "Browser campaign" });
  await card.getByRole("button", { name: "Approve campaign" }).waitFor();
  await card.getByText("Stops at validation AUC 0.99.").waitFor();
  const [created] = (await apiGet("/api/campaigns/")).filter((campaign) => campaign.name === "Browser campaign");
  check(created.state === "DRAFT" && created.rounds_planned === 3 && created.round_seconds === 1200, "the campaign as planned");
  await shot(page, "05b-campaign-planned");
}

async function adminJourney({ draft, completed }) {
  const { username, password } = fixture.admin;
  const own = fixture.admin_hospital;

  log("hospital admin: logs in and lands on their own hospital");
  await login(username, password);
  await page.waitForURL(new RegExp(`/hospitals/${own.id}$`));
  await page.getByRole("heading", { name: own.name }).waitFor();
  await page.getByTestId("node-card").getByText("Online").waitFor();
  await page.getByTestId("submission-table").waitFor();
  check((await page.locator("[data-testid=submission-table] tbody tr").count()) === 4, "their four submissions");
  check((await page.getByRole("link", { name: "Audit trail" }).count()) === 0, "no coordinator menu");
  for (const other of fixture.other_hospitals) {
    check((await page.getByText(other.name).count()) === 0, `nothing of ${other.name} on their page`);
  }
  const hospitals = await apiGet("/api/hospitals/");
  check(hospitals.length === 1 && hospitals[0].id === own.id, "the API lists only their hospital");

  log("hospital admin: opts out of a draft round, then back in");
  const invited = page.locator(`.invited-rounds li[data-round="${draft}"]`);
  await invited.getByRole("button", { name: "Opt out" }).click();
  await invited.getByText("Opted out").waitFor();
  await invited.getByRole("button", { name: "Opt in" }).click();
  await invited.getByText("Taking part").waitFor();
  await shot(page, "09-admin-own-hospital");

  log("hospital admin: sees only their own row of a round");
  await page.goto(`${base}/rounds/${completed}`);
  await page.getByTestId("round-state").filter({ hasText: "COMPLETED" }).waitFor();
  check((await page.locator("[data-testid=participants] li").count()) === 1, "one participant row: theirs");
  await page.getByText("Another hospital submitted its update").first().waitFor();
  const roundText = await page.locator("main").textContent();
  for (const slug of fixture.hospital_slugs.slice(1)) check(!roundText.includes(slug), `round page hides ${slug}`);
  for (const other of fixture.other_hospitals) {
    check((await page.getByText(other.name).count()) === 0, `round page hides ${other.name}`);
  }
  await shot(page, "10-admin-round");

  log("hospital admin: is refused another hospital's page and the coordinator's pages");
  await page.goto(`${base}/hospitals/${fixture.other_hospitals[0].id}`);
  await page.getByText("Refused: not your hospital").waitFor();
  check((await page.getByText(fixture.other_hospitals[0].name).count()) === 0, "the other hospital's name is not shown");
  await shot(page, "11-admin-refused-other-hospital");
  await page.goto(`${base}/audit`);
  await page.getByText(/This page is for the consortium coordinator/).waitFor();

  log("hospital admin: rotates the node token after a confirmation, shown once");
  await page.goto(`${base}/hospitals/${own.id}`);
  await page.getByRole("button", { name: "Rotate token" }).click();
  check((await page.getByTestId("token-value").count()) === 0, "rotating asks first");
  await page.getByRole("button", { name: "Confirm rotation" }).click();
  const token = await page.getByTestId("token-value").textContent();
  check(/^node_/.test(token.trim()), "a new node token is shown");
}

/**
 * The page as it stands: no wider than the window, every table showing all its columns (wide tables become
 * cards on a phone), its own title, no serious or critical axe-core finding; then a screenshot.
 */
async function checkPage(number, name, title) {
  const { width, height } = page.viewportSize();
  const size = `${width}x${height}`;
  const layout = await page.evaluate(() => ({
    pageWidth: document.documentElement.scrollWidth,
    windowWidth: window.innerWidth,
    title: document.title,
    cutTables: [...document.querySelectorAll(".table-wrap")].filter((wrap) => wrap.scrollWidth > wrap.clientWidth + 1).map((wrap) => wrap.getAttribute("aria-label")),
  }));
  log(`  ${name} at ${size}: ${layout.pageWidth} px wide, title "${layout.title}"`);
  check(layout.pageWidth <= layout.windowWidth, `${name} at ${size} is no wider than the window (${layout.pageWidth} > ${layout.windowWidth} px)`);
  check(layout.cutTables.length === 0, `${name} at ${size} shows every table whole (cut: ${layout.cutTables.join(", ")})`);
  check(layout.title === `${title} · DecentraHealth`, `${name} is titled "${title} · DecentraHealth", not "${layout.title}"`);
  await checkAccessibility(`${name} at ${size}`);
  await shot(page, `${number}-${name}-${size}`);
}

/** axe-core finds nothing serious or critical on the page as it stands. */
async function checkAccessibility(what) {
  // Evaluated rather than added as an inline <script>, which the content security policy would block.
  if (!(await page.evaluate(() => "axe" in window))) await page.evaluate(readFileSync(AXE, "utf8"));
  const problems = await page.evaluate(async () => {
    const { violations } = await window.axe.run(document, { resultTypes: ["violations"] });
    return violations
      .filter((violation) => ["serious", "critical"].includes(violation.impact))
      .map((violation) => `${violation.id} (${violation.impact}) at ${violation.nodes.map((node) => node.target.join(" ")).join(", ")}`);
  });
  check(problems.length === 0, `no serious accessibility problem on ${what}: ${problems.join("; ")}`);
}

async function layoutTour({ completed }) {
  const { username, password } = fixture.coordinator;
  const own = fixture.admin_hospital;
  const pages = [
    [13, "overview", "/", "Overview", () => page.getByTestId("round-table").waitFor()],
    [14, "rounds", "/rounds", "Rounds", () => page.getByTestId("round-table").waitFor()],
    [15, "round", `/rounds/${completed}`, `Round ${completed}`, () => page.getByTestId("submission-table").waitFor()],
    [16, "plan-round", "/rounds/new", "Plan a round", () => page.getByRole("heading", { name: "Training" }).waitFor()],
    [17, "hospitals", "/hospitals", "Hospitals", () => page.getByTestId("hospital-table").waitFor()],
    [18, "hospital", `/hospitals/${own.id}`, own.name, () => page.getByTestId("submission-table").waitFor()],
    [19, "models", "/models", "Models", () => page.getByTestId("model-table").waitFor()],
    [20, "audit-trail", "/audit", "Audit trail", () => page.getByTestId("audit-table").waitFor()],
  ];
  for (const size of SIZES) {
    log(`every page at ${size.width}x${size.height}`);
    await page.setViewportSize(size);
    await page.goto(base + "/login");
    await page.getByRole("button", { name: "Log in" }).waitFor();
    await checkPage(12, "login", "Log in");
    await login(username, password);
    for (const [number, name, path, title, ready] of pages) {
      await page.goto(base + path);
      await page.getByRole("heading", { level: 1, name: title }).waitFor();
      await ready();
      await checkPage(number, name, title);
    }
    if (await openMenu()) {
      const bar = await page.locator("header.sidebar").boundingBox();
      log(`  the menu opens from a bar; opened it is ${Math.round(bar.height)} px high`);
      await checkAccessibility(`the open menu at ${size.width}x${size.height}`);
      await page.getByRole("link", { name: "Rounds", exact: true }).click();
      await page.getByRole("heading", { level: 1, name: "Rounds" }).waitFor();
      const closed = await page.locator("header.sidebar").boundingBox();
      check(closed.height <= 80, `choosing a page folds the menu back into a bar (${closed.height} px high)`);
    }
    await logout();
  }
  await page.setViewportSize(SIZES[0]);
}

/** The browsable API documentation (/api/docs/, Swagger UI) renders the operations under its own policy. */
async function apiDocs() {
  log("API documentation");
  await page.goto(base + "/api/docs/");
  await page.locator(".swagger-ui .info .title").filter({ hasText: "DecentraHealth portal API" }).waitFor();
  const operation = page.locator('.opblock-summary-path[data-path="/api/rounds/"]').first();
  await operation.waitFor();
  const operations = await page.locator(".opblock").count();
  log(`  ${operations} operations shown`);
  check(operations > 20, `the API docs show the operations (${operations})`);
  await shot(page, "22-api-docs");
}

let failed = false;
try {
  const rounds = await coordinatorJourney();
  await layoutTour(rounds);
  await adminJourney(rounds);
  await apiDocs();
  check(pageErrors.length === 0, `no errors in the page: ${pageErrors.join(" / ")}`);
  log("all browser checks passed");
} catch (error) {
  failed = true;
  console.error(error.stack || String(error));
  await shot(page, "failure").catch(() => {});
  if (pageErrors.length) console.error(`page errors: ${pageErrors.join(" / ")}`);
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
