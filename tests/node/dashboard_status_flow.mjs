// Drives Debian's Chromium through the screens that say how deliveries stand: a delivery retrying (its badge,
// attempts, last response and next attempt) on a message page that does not reload every second while the retry
// waits; the application's failing endpoint; the app portal's endpoint list and page (failing, success rate) and
// its message page; an inbound registration's health and the request it refused. Input (JSON on stdin): base,
// token, appId, endpointId (its delivery of msgId is retrying), msgId, portalUrl, registrationId, and screenshots
// (a folder to save the screens in, or null).
import { check, inBrowser, logIn, readInput } from "./browser.mjs";

const input = await readInput();
const { base, token, appId, endpointId, msgId, portalUrl, registrationId, screenshots } = input;

/** Marks the page, waits `ms`, and says whether the same page is still there (not reloaded, not re-rendered). */
async function stays(page, ms, rerendered = () => false) {
  await page.evaluate(() => { window.hookdMarker = true; });
  // Waiting for something not to happen: a fixed wait is the test, three times the old reload interval.
  await page.waitForTimeout(ms);
  return !rerendered() && await page.evaluate(() => window.hookdMarker === true);
}

await inBrowser({ screenshots }, async ({ page, shot }) => {
  await logIn(page, base, token);

  // ── the dashboard's message page: retrying, and no reload while the retry waits minutes ──
  await page.goto(`${base}/ui/apps/${appId}/messages/${msgId}`);
  const row = page.locator(`#deliveries tr[data-endpoint="${endpointId}"]`);
  check(await row.locator(".badge.warn").innerText() === "retrying", "the delivery reads retrying");
  const cells = await row.locator("td").allInnerTexts();
  check(cells[2] === "2", `two attempts made (${cells[2]})`);
  check(cells[3].includes("503"), `the last response's status (${cells[3]})`);
  check(/^in \d+ min \(/.test(cells[4]), `when the next attempt is due (${cells[4]})`);
  const refresh = page.locator("#refresh");
  check(await refresh.getAttribute("data-refresh-mode") === "scheduled", "one reload, when the retry is due");
  check((await refresh.innerText()).includes("when the next attempt is due"), "the page says when it refreshes");
  const colours = await row.locator(".badge.warn").evaluate((b) => [getComputedStyle(b).color, getComputedStyle(b).backgroundColor]);
  check(colours[0] !== colours[1], `the amber badge drawn (${colours.join(" on ")})`);
  await shot("status-message");
  check(await stays(page, 3000), "no reload every second while the retry waits");

  // ── the application's endpoints: the failing one says so ──
  await page.goto(`${base}/ui/apps/${appId}`);
  const epRow = page.locator("#endpoints tr", { has: page.locator(`a[href$="/endpoints/${endpointId}"]`) });
  const epState = await epRow.locator(".state .badge").innerText();
  check(epState === "failing", `the endpoint reads failing (${epState})`);
  check((await epRow.locator(".state").innerText()).includes("2 failed in a row"), "its failures in a row");
  await shot("status-app");

  // ── the portal: failing endpoints and their success rate; the retrying delivery ──
  await page.goto(portalUrl);
  await page.locator("#endpoints").waitFor();
  const portalRow = page.locator(`#endpoints tr[data-endpoint="${endpointId}"]`);
  check(await portalRow.locator(".state .badge").innerText() === "failing", "the portal lists the endpoint as failing");
  check(await portalRow.locator(".success").innerText() === "0% of the last 2 attempts", "its success rate");
  const healthy = page.locator("#endpoints tbody tr", { hasNot: page.locator(`a[href="#/endpoints/${endpointId}"]`) });
  check(await healthy.locator(".state .badge").innerText() === "enabled", "the healthy endpoint reads enabled");
  check(await healthy.locator(".success").innerText() === "100% of the last 1 attempt", "its success rate");
  await shot("status-portal-endpoints");

  await Promise.all([page.waitForURL(`**/#/endpoints/${endpointId}`), portalRow.locator("a").click()]);
  await page.locator("#success").waitFor();
  check(await page.locator("#state .badge").innerText() === "failing", "the endpoint's page reads failing");
  check(await page.locator("#success").innerText() === "0% of the last 2 attempts", "its success rate");
  const delivered = await page.locator("#delivered").innerText();
  check(delivered.includes("1 under way") && !delivered.includes("no deliveries"), `not "no deliveries yet" (${delivered})`);
  await shot("status-portal-endpoint");

  await page.goto(`${portalUrl.split("#")[0]}#/messages/${msgId}`);
  const portalDelivery = page.locator(`#deliveries tr[data-endpoint="${endpointId}"]`);
  await portalDelivery.waitFor();
  check(await portalDelivery.getAttribute("data-state") === "retrying", "the portal's delivery reads retrying");
  const portalCells = await portalDelivery.locator("td").allInnerTexts();
  check(portalCells[1] === "retrying" && portalCells[2] === "2" && portalCells[3].includes("503"),
    `its attempts and last response (${portalCells.slice(1, 4).join(" | ")})`);
  check(/^in \d+ min \(/.test(portalCells[4]), `its next attempt (${portalCells[4]})`);
  check(await page.locator("#refresh").getAttribute("data-refresh-mode") === "scheduled", "the portal waits for the retry");
  await shot("status-portal-message");
  let asked = 0;
  page.on("request", (r) => { if (r.url().includes(`/msg/${msgId}/endpoint`)) asked += 1; });
  check(await stays(page, 3000, () => asked > 0), "the portal does not ask again every second");

  // ── inbound: the health over the recent window, and the refused request with its reason ──
  await page.goto(`${base}/ui/inbound/${registrationId}`);
  check(await page.locator("#health .badge").innerText() === "degraded", "one bad signature after good ones: degraded, not failed");
  check((await page.locator("#health-window").innerText()).startsWith("In the last 24 h: 3 requests"), "the window's counts");
  check((await page.locator("ul.recommendations").innerText()).includes("rotate-secret"), "a recommendation hookd can act on");
  const refused = page.locator("#refused-requests tr.refused");
  check(await refused.count() === 1, "the refused request listed");
  check(await refused.locator(".badge").innerText() === "bad signature", "with its reason");
  check((await refused.innerText()).includes("127.0.0.1"), "and where it came from");
  await refused.locator("summary").click();
  check((await refused.locator("table.headers").innerText()).includes("x-hub-signature-256"), "the signature header it carried");
  await shot("status-inbound");
});
console.log("dashboard status flow passed");
