// Drives Debian's Chromium through the dashboard's timer form: create a timer (a refused try first, its message
// beside the field and what was typed kept), then cancel it after saying no once to the question. Timers have
// no edit: their API changes none once made. Input (JSON on stdin): base, token, hook (a receiver's URL),
// screenshots (a folder, or null).
import { check, inBrowser, logIn, readInput } from "./browser.mjs";

const { base, token, hook, screenshots } = await readInput();
const field = (name) => `[name="${name}"]`;

await inBrowser({ screenshots, failedLoadsAllowed: true }, async ({ page, shot }) => {
  await logIn(page, base, token);
  await Promise.all([page.waitForURL(`${base}/ui/timers`), page.locator("header nav a", { hasText: "Timers" }).click()]);
  await Promise.all([page.waitForURL("**/ui/timers/new"), page.locator("a", { hasText: "New timer" }).click()]);
  check(await page.locator('label[for="f-duration"]').innerText() === "After (optional)", "the duration has a label");

  // Refused: a duration that is none, and a time zone that is none; the API names the first.
  await page.fill(field("name"), "Nightly build");
  await page.fill(field("duration"), "soon");
  await page.fill(field("events.on_expire.webhook"), hook);
  await page.fill(field("events.on_expire.data"), '{"build": 42}');
  await page.fill(field("events.on_progress.intervals"), "25%, 50%");
  await Promise.all([page.waitForURL("**/ui/timers/new"), page.locator("#timer-form button[type=submit]").click()]);
  const err = await page.locator('[id="err-duration"]').innerText();
  check(err.includes("a duration such as"), `the duration's message beside it (${err})`);
  check(await page.locator(field("name")).inputValue() === "Nightly build", "the name as typed kept");
  check(await page.locator(field("events.on_expire.data")).inputValue() === '{"build": 42}', "the data as typed kept");
  check(await page.locator(field("events.on_progress.intervals")).inputValue() === "25%, 50%", "the milestones kept");
  check(await page.locator("header nav a", { hasText: "Timers" }).getAttribute("aria-current") === "page", "the navigation in place");
  await shot("timer-form-refused");

  await page.fill(field("duration"), "1h");
  await Promise.all([page.waitForURL(/\/ui\/timers\/timer_[^/?]+\?done=created/), page.locator("#timer-form button[type=submit]").click()]);
  const timerId = page.url().match(/\/ui\/timers\/(timer_[^/?]+)/)[1];
  check((await page.locator("#done").innerText()) === "Timer created.", "the timer's page says it was created");
  check(await page.locator("#timer-status").innerText() === "running", "running");
  check((await page.locator("pre.payload").innerText()).includes('"build": 42'), "its webhook's data shown");
  await shot("timer-created");
  console.log(`timer: ${timerId}`);

  // Cancel asks first: "no" keeps it running, "yes" cancels it.
  let asked = "";
  page.once("dialog", (d) => { asked = d.message(); d.dismiss(); });
  await page.locator("#actions button", { hasText: "Cancel" }).click();
  check(asked.includes("Stop the timer Nightly build for good?") && asked.includes("timer_cancelled"), `the question asked (${asked})`);
  check(await page.locator("#timer-status").innerText() === "running", "still running after saying no");
  page.once("dialog", (d) => d.accept());
  await Promise.all([page.waitForURL(/done=cancelled/), page.locator("#actions button", { hasText: "Cancel" }).click()]);
  check(await page.locator("#timer-status").innerText() === "cancelled", "cancelled after saying yes");
  await shot("timer-cancelled");
});
console.log("timer forms flow passed");
