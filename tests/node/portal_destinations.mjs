// Drives Debian's Chromium through the app portal's destinations as a SaaS's customer would, from a link the
// official Svix SDK made: adds a FIFO endpoint whose receiver fails, sees it stuck retrying with the reason,
// retries it now and sees it catch up; adds a polling endpoint, shows its token and reads the events with it; a
// view-only link shows destinations without a way to change them, and another application's destination is not
// found. Input (JSON on stdin): base, token, appId, fifoUrl, otherAppId, otherDestinationId, screenshots.
import { check, inBrowser, readInput } from "./browser.mjs";
import { Svix } from "svix";

const { base, token, appId, fifoUrl, otherAppId, otherDestinationId, screenshots } = await readInput();
const svix = new Svix(token, { serverUrl: base, numRetries: 0 });
const link = await svix.authentication.appPortalAccess(appId, { sessionId: "destinations" });

/** Reloads the page until `cond()` holds: the destination pages do not refresh by themselves. */
async function reloadUntil(page, what, cond) {
  const deadline = Date.now() + 20_000;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await page.waitForTimeout(200);
    await page.reload();
    await page.locator("main h1").waitFor();
  }
}

await inBrowser({ screenshots, failedLoadsAllowed: true }, async ({ page, shot }) => {
  page.on("dialog", (d) => d.accept());
  await page.goto(link.url);
  await page.locator("#endpoints, .empty").first().waitFor();
  await page.locator("nav a", { hasText: "Destinations" }).click();
  await page.locator("main .empty", { hasText: "No destinations yet." }).waitFor();

  // A FIFO endpoint for order events, in batches of 10.
  await page.locator("#add-destination").click();
  check(await page.locator("#type").inputValue() === "fifoEndpoint", "FIFO endpoint is the first type offered");
  await page.fill("#config-url", fifoUrl);
  await page.fill("#config-headers", "Authorization: Bearer acme-secret-123");
  await page.fill("#event-types", "order.*");
  await page.fill("#batch-size", "10");
  // Up to 2 s for a batch to fill: the three orders published below go as one batch.
  await page.fill("#max-wait", "2");
  await shot("portal-destination-new");
  await Promise.all([page.waitForURL(/#\/destinations\/dst_/), page.locator("button[type=submit]").click()]);
  await page.locator("#state").waitFor();
  const fifoId = decodeURIComponent(page.url().split("/").pop());
  const stored = await svix.destination.get(appId, fifoId);
  check(stored.type === "fifoEndpoint" && stored.batchSize === 10 && stored.eventTypes.join() === "order.*",
    "the destination as the SDK reads it");
  check(!JSON.stringify(stored.config).includes("acme-secret-123"), "the header's value is not shown back");

  // A polling endpoint beside it, before any order is published (a destination starts at the log's end).
  await page.locator("nav a", { hasText: "Destinations" }).click();
  await page.locator("#add-destination").click();
  await page.selectOption("#type", "pollingEndpoint");
  check(await page.locator("#config input").count() === 0, "a polling endpoint has no config");
  await Promise.all([page.waitForURL(/#\/destinations\/dst_/), page.locator("button[type=submit]").click()]);
  await page.locator("#polling").waitFor();

  // Three orders: the FIFO receiver fails their batch three times, then the schedule waits ten minutes.
  for (const n of [1, 2, 3]) {
    await svix.message.create(appId, { eventType: "order.created", payload: { orderId: `ord_${n}` } });
  }

  // The customer shows the polling endpoint's token and reads the events with it.
  const pollUrl = await page.locator("#poll-url").innerText();
  await page.locator("#polling button.reveal").click();
  const pollerToken = await page.locator("#poller-token code").innerText();
  const polled = await fetch(`${pollUrl}?limit=10`, { headers: { authorization: `Bearer ${pollerToken}` } });
  check(polled.status === 200, `the poll URL answers the shown token (${polled.status})`);
  const pageOfEvents = await polled.json();
  check(pageOfEvents.data.map((m) => m.payload.orderId).join() === "ord_1,ord_2,ord_3", "the three orders, in order");
  const elsewhere = await fetch(`${base}/api/v1/app/${appId}/endpoint`, { headers: { authorization: `Bearer ${pollerToken}` } });
  check(elsewhere.status === 401 || elsewhere.status === 403, "the poller token reads nothing else");
  await shot("portal-destination-polling");

  // The FIFO endpoint is stuck: the reason, how far behind, the failed batches.
  await page.goto(`${base}/portal/#/destinations/${fifoId}`);
  await page.locator("#state").waitFor();
  await reloadUntil(page, "the destination stuck retrying", async () =>
    (await page.locator("#state").innerText()).includes("retrying")
    && (await page.locator("#state").innerText()).includes("min"));
  check((await page.locator("#failure").innerText()).includes("HTTP 503"), "the failure names the receiver's answer");
  check((await page.locator("#lag").innerText()).startsWith("3 events behind"), "three events behind");
  check(await page.locator("#batches tr.attempt.fail").count() === 3, "three failed batches");
  await shot("portal-destination-retrying");

  // Retry now: the batch goes at once and the destination catches up.
  await page.locator("#force-retry").click();
  await page.locator(".notice", { hasText: "Retrying the failed batch now." }).waitFor();
  await reloadUntil(page, "the destination caught up", async () =>
    (await page.locator("#lag").innerText()).startsWith("up to date"));
  check((await page.locator("#state").innerText()).startsWith("enabled"), "enabled again");
  const ok = page.locator("#batches tr.attempt.ok");
  check(await ok.count() === 1 && (await ok.locator("td").nth(1).innerText()) === "3", "one successful batch of the three events");
  await shot("portal-destination");

  // The list: both destinations, their state and how far behind.
  await page.locator("nav a", { hasText: "Destinations" }).click();
  await page.locator("#destinations").waitFor();
  check(await page.locator("#destinations tbody tr").count() === 2, "two destinations listed");
  check((await page.locator(`tr[data-destination="${fifoId}"] .lag`).innerText()) === "up to date", "the FIFO endpoint up to date");
  check((await page.locator("#destinations").innerText()).includes("read at your pace"), "the polling endpoint read at its reader's pace");
  await shot("portal-destinations");

  // Another application's destination is not found through this link.
  await page.goto(`${base}/portal/#/destinations/${otherDestinationId}`);
  await page.locator("#refused h1", { hasText: "Not found" }).waitFor();
  const theirs = await fetch(`${base}/api/v1/app/${otherAppId}/destination`, { headers: { authorization: `Bearer ${link.token}` } });
  check(theirs.status === 404, "another application's destinations are 404 to this link");

  // A view-only link: the list and a destination's page, nothing to change them with; the API refuses too.
  const viewOnly = await svix.authentication.appPortalAccess(appId, { capabilities: ["ViewBase"], sessionId: "view" });
  await page.goto("about:blank"); // a new document: a link to the same page with another fragment would not reload it
  await page.goto(viewOnly.url);
  await page.locator("#endpoints, .empty").first().waitFor();
  await page.goto(`${base}/portal/#/destinations/${fifoId}`);
  await page.locator("#state").waitFor();
  check(await page.locator("#toggle, #delete, #force-retry, #skip").count() === 0, "no buttons that change it");
  check((await page.locator(".actions").innerText()).includes("This link can look, not change."), "it says so");
  const refused = await fetch(`${base}/api/v1/app/${appId}/destination`, {
    method: "POST", headers: { authorization: `Bearer ${viewOnly.token}`, "content-type": "application/json" },
    body: JSON.stringify({ type: "pollingEndpoint", config: {} }),
  });
  check(refused.status === 403 && (await refused.json()).detail.includes("ManageEndpoint"), "creating one is 403 for a view-only link");
});
console.log("portal destinations flow passed");
