// Browser test of the web interface in headless Chromium (playwright-core, the system chromium).
// Run by test_browser.py against a portal started by serve_portal.py; exits non-zero on the first failure.
//
// Environment: DH_BROWSER_FIXTURE (JSON from serve_portal.py: base URL, credentials, hospital ids),
// DH_SCREENSHOT_DIR (where the screenshots go), DH_CHROMIUM (default /usr/bin/chromium).

import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";

const fixture = JSON.parse(process.env.DH_BROWSER_FIXTURE);
const base = fixture.base_url;
const shots = process.env.DH_SCREENSHOT_DIR || "var/screenshots";
mkdirSync(shots, { recursive: true });
const started = Date.now();
const ROUND_TIMEOUT = 90_000;

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
const context = await browser.newContext({ viewport: { width: 1360, height: 900 } });
context.setDefaultTimeout(15_000);

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
  await page.getByTestId("whoami").filter({ hasText: username }).waitFor();
}

async function logout() {
  await page.getByRole("button", { name: "Log out" }).click();
  await page.getByRole("button", { name: "Log in" }).waitFor();
}

async function waitForLive() {
  await page.locator('[data-testid=live-status][data-status="live"]').waitFor({ timeout: 20_000 });
}

async function planRoundViaApi(participants) {
  const models = await apiGet("/api/models/");
  const round = await csrfPost("/api/rounds/", {
    base_model: models[models.length - 1].id,
    config: { local_epochs: 1, batch_size: 16, proof_steps: 1 },
    participants,
    quorum: participants.length,
    deadline: new Date(Date.now() + 3600_000).toISOString(),
    aggregation: "plaintext",
  });
  return round.id;
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
  await row.getByRole("button", { name: "Revoke" }).click();
  await row.getByRole("button", { name: "Confirm revoke" }).click();
  await row.getByText("Revoked").waitFor();

  log("coordinator: plans a round with the form");
  await page.getByRole("link", { name: "Plan a round" }).click();
  await page.getByRole("heading", { name: "Hyper-parameters" }).waitFor();
  await page.locator('select[name="aggregation"]').selectOption("plaintext");
  await page.locator('input[name="config.local_epochs"]').fill("1");
  await page.locator('input[name="config.batch_size"]').fill("16");
  await page.locator('input[name="config.proof_steps"]').fill("1");
  for (const slug of fixture.hospital_slugs) await page.locator(`input[name=participants][value="${slug}"]`).setChecked(true);
  await page.locator('input[name=participants][value="hospital-four"]').setChecked(false);
  check((await page.locator('input[name="quorum"]').inputValue()) === "3", "the quorum follows the participants");
  const deadline = await page.locator('input[name="deadline"]').inputValue();
  await page.locator('input[name="deadline"]').fill("2020-01-01T10:00");
  await page.getByRole("button", { name: "Create the draft round" }).click();
  await page.getByRole("alert").filter({ hasText: "The deadline must be in the future" }).waitFor(); // the API's reason
  await page.locator('input[name="deadline"]').fill(deadline);
  await shot(page, "04-plan-round");
  await page.getByRole("button", { name: "Create the draft round" }).click();
  await page.waitForURL(/\/rounds\/\d+$/);
  const liveRound = Number(page.url().split("/").pop());
  await page.getByTestId("round-state").filter({ hasText: "DRAFT" }).waitFor();
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

  log("coordinator: overview with the accuracy chart, models and the audit trail");
  await page.getByRole("link", { name: "Overview" }).click();
  await page.getByRole("heading", { name: "Overview" }).waitFor();
  const points = page.locator("[data-testid=accuracy-chart] [data-series=val_accuracy] circle");
  await points.nth(2).waitFor(); // one point per completed round: the seeded one and the two above
  check((await points.count()) === 3, `three points on the chart, not ${await points.count()}`);
  await shot(page, "02-overview");
  await page.getByRole("link", { name: "Models" }).click();
  await page.getByTestId("model-table").waitFor();
  await shot(page, "07-models");
  await page.getByRole("link", { name: "Audit trail" }).click();
  await page.getByTestId("audit-table").waitFor();
  check((await page.locator("[data-testid=audit-table] tr[data-kind=state]").count()) >= 15, "state changes are in the audit trail");
  await shot(page, "08-audit-trail");

  const draft = await planRoundViaApi(fixture.hospital_slugs);
  await logout();
  return { draft, completed: liveRound };
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
  check((await page.locator("[data-testid=submission-table] tbody tr").count()) === 3, "their three submissions");
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

  log("hospital admin: rotates the node token, shown once");
  await page.goto(`${base}/hospitals/${own.id}`);
  await page.getByRole("button", { name: "Rotate node token" }).click();
  const token = await page.getByTestId("token-value").textContent();
  check(/^node_/.test(token.trim()), "a new node token is shown");
}

let failed = false;
try {
  const rounds = await coordinatorJourney();
  await adminJourney(rounds);
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
