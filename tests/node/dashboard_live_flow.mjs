// Drives Debian's Chromium through the dashboard's live tail, inbound, timers and bots screens: watch the live
// tail while a message is published through the API and see its attempt appear without a reload; find a signed
// inbound event, read its headers, body and signature verdict, and replay it; pause, resume and cancel a timer;
// look at a bot's installations and webhooks. Input (JSON on stdin): base, token, appId, registrationId, eventId,
// timerId, botId, and screenshots (a folder to save the screens in, or null).
import { check, inBrowser, logIn, readInput } from "./browser.mjs";

const input = await readInput();
const { base, token, appId, registrationId, eventId, timerId, botId, screenshots } = input;

async function publish(eventType, payload) {
  const r = await fetch(`${base}/api/v1/app/${appId}/msg`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify({ eventType, payload }),
  });
  if (r.status !== 202) throw new Error(`publishing: ${r.status} ${await r.text()}`);
  return (await r.json()).id;
}

await inBrowser({ screenshots, failedLoadsAllowed: true }, async ({ page, shot }) => {

  await logIn(page, base, token);

  // ── live tail: the attempt of a message published now appears without a reload ──
  await Promise.all([page.waitForURL(`${base}/ui/live`), page.locator("header nav a", { hasText: "Live" }).click()]);
  await page.locator("#live-state", { hasText: "live" }).waitFor();
  check(true, "the live tail connected");
  await page.evaluate(() => { window.stillTheSamePage = true; });
  // The receiver fails the first attempt (500) and takes the retry.
  const first = await publish("order.shipped", { orderId: "ord_1042", carrier: "DHL" });
  const failedRow = page.locator(`#live tr.attempt.fail:has(a[href$="/messages/${first}"])`);
  await failedRow.waitFor();
  check(await failedRow.locator(".status-code").innerText() === "500", "the failed attempt's status 500 in the tail");
  check(await failedRow.innerText().then((t) => t.includes("will retry")), "the failed attempt marked as retried");
  const firstRow = page.locator(`#live tr.attempt.ok:has(a[href$="/messages/${first}"])`);
  await firstRow.waitFor();
  check(await firstRow.locator(".status-code").innerText() === "200", "the retry's status 200 in the tail");
  check(await firstRow.innerText().then((t) => t.includes("order.shipped") && t.includes("Storefront")),
    "the attempt's event type and application in the tail");
  check(await page.evaluate(() => window.stillTheSamePage === true), "no reload");
  // Filtered by the application: its newest attempts first, then new ones as they come.
  await page.selectOption("select[name=app]", appId);
  await Promise.all([page.waitForURL(`**/ui/live?app=${appId}`), page.locator("form.search button").click()]);
  check(await page.locator(`#live tr.attempt:has(a[href$="/messages/${first}"])`).count() === 2,
    "the application's recent attempts listed when the filtered tail opens");
  check(await page.locator(`#live tr.attempt.ok:has(a[href$="/messages/${first}"])`).innerText()
    .then((t) => t.includes("order.shipped")), "with their event types");
  await page.locator("#live-state", { hasText: "live" }).waitFor();
  const second = await publish("order.delivered", { orderId: "ord_1042" });
  await page.locator(`#live tr.attempt:has(a[href$="/messages/${second}"])`).waitFor();
  check(await page.locator(`#live tr.attempt:has(a[href$="/messages/${second}"])`).count() === 1,
    "a second attempt appears in the filtered tail, once");
  await shot("live");

  // ── inbound: registration health → its event → headers, body, verdict → Replay ──
  await Promise.all([page.waitForURL(`${base}/ui/inbound`), page.locator("header nav a", { hasText: "Inbound" }).click()]);
  const regRow = page.locator(`tr.registration[data-registration="${registrationId}"]`);
  check(await regRow.locator(".badge.health").innerText() === "healthy", "the registration's health");
  await shot("inbound-registrations");
  await Promise.all([page.waitForURL(`**/ui/inbound/${registrationId}`), regRow.locator(`a[href="/ui/inbound/${registrationId}"]`).click()]);
  check(await page.locator("#health .badge").innerText() === "healthy", "the health on the registration's page");
  await shot("inbound-registration");
  const eventLink = page.locator(`#events a[href="/ui/inbound/${registrationId}/events/${eventId}"]`).first();
  await Promise.all([page.waitForURL(`**/events/${eventId}`), eventLink.click()]);
  check(await page.locator("#verdict .badge").first().innerText() === "verified", "the verdict: verified at receipt");
  check(await page.locator("#verdict .recheck").innerText().then((t) => t.includes("still valid")),
    "the signature still checks against the registration's secret");
  check(await page.locator("#headers").innerText().then((t) => t.includes("x-hub-signature-256") && t.includes("x-github-event")),
    "the raw request headers");
  check(await page.locator("#body").innerText().then((t) => t.includes('"title": "Checkout fails"')), "the raw body, pretty-printed");
  await shot("inbound");
  await Promise.all([page.waitForURL(/replayed=msg_/), page.locator("#verdict button", { hasText: "Replay" }).click()]);
  const replayed = page.locator("#replayed a");
  check(await replayed.count() === 1, "a link to the replayed message");
  await Promise.all([page.waitForURL(/\/messages\/msg_/), replayed.click()]);
  check(await page.locator("#payload").innerText().then((t) => t.includes(eventId)), "the replayed message carries the event");

  // ── timers: running, paused and finished; pause, resume and cancel one ──
  await Promise.all([page.waitForURL(`${base}/ui/timers`), page.locator("header nav a", { hasText: "Timers" }).click()]);
  for (const status of ["running", "paused", "expired"]) {
    check(await page.locator(`#timers .timer-status.${status}`).count() >= 1, `a ${status} timer listed`);
  }
  check(await page.locator(`tr[data-timer="${timerId}"] progress`).count() === 1, "a progress bar");
  check(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$/.test(await page.locator(`tr[data-timer="${timerId}"] .next-firing`).innerText()),
    "the running timer's next firing");
  await shot("timers");
  await Promise.all([page.waitForURL(`${base}/ui/timers?status=paused`), page.locator(".tabs a", { hasText: "Paused" }).click()]);
  check(await page.locator("#timers .timer-status.running").count() === 0, "the Paused tab lists no running timer");
  await page.goto(`${base}/ui/timers`);
  await Promise.all([page.waitForURL(`**/ui/timers/${timerId}`), page.locator(`tr[data-timer="${timerId}"] a`).first().click()]);
  check(await page.locator("#timer-status").innerText() === "running", "the timer running");
  await shot("timer");
  for (const [button, status] of [["Pause", "paused"], ["Resume", "running"], ["Cancel", "cancelled"]]) {
    if (button === "Cancel") page.once("dialog", (d) => d.accept()); // it asks first
    await Promise.all([page.waitForURL(/done=/), page.locator("#actions button", { hasText: button }).click()]);
    check(await page.locator("#timer-status").innerText() === status, `the timer ${status} after ${button}`);
  }
  check(await page.locator("#actions button").count() === 0, "no actions on a finished timer");

  // ── bots: installations and outgoing webhooks ──
  await Promise.all([page.waitForURL(`${base}/ui/bots`), page.locator("header nav a", { hasText: "Bots" }).click()]);
  const botRow = page.locator(`tr.bot[data-bot="${botId}"]`);
  check(await botRow.innerText().then((t) => t.includes("Deploy Bot") && t.includes("#C0DEPLOYS")), "the bot and its installation");
  check(await botRow.locator(".badge.ok").count() >= 1, "the bot's last webhook attempt succeeded");
  await Promise.all([page.waitForURL(`**/ui/bots/${botId}`), botRow.locator(`a[href="/ui/bots/${botId}"]`).click()]);
  check(await page.locator("#installations").innerText().then((t) => t.includes("#C0DEPLOYS")), "the installation on the bot's page");
  check(await page.locator("#webhooks").innerText().then((t) => t.includes("message.sent") && t.includes("succeeded")),
    "the outgoing webhook delivered");
  check(await page.locator("tr.attempt.ok").count() >= 1, "the webhook's attempt");
  await shot("bots");
});
console.log("dashboard live flow passed");
