// Drives Debian's Chromium through the dashboard's bot forms: register a bot (a refused try first, its message
// beside the field and what was typed kept) and read its credentials shown once, edit it, install it in a
// channel (one that does not exist first: the API's 404 said on the form), rotate its token and delete it, each
// of the last two after saying no once to the question. Input (JSON on stdin): base, token, hook (a receiver's
// URL), channelId (an existing channel), screenshots (a folder, or null).
import { check, inBrowser, logIn, readInput } from "./browser.mjs";

const { base, token, hook, channelId, screenshots } = await readInput();
const field = (name) => `[name="${name}"]`;
const box = (name, value) => `input[name="${name}"][value="${value}"]`;

await inBrowser({ screenshots, failedLoadsAllowed: true }, async ({ page, shot }) => {
  await logIn(page, base, token);
  await Promise.all([page.waitForURL(`${base}/ui/bots`), page.locator("header nav a", { hasText: "Bots" }).click()]);
  await Promise.all([page.waitForURL("**/ui/bots/new"), page.locator("a", { hasText: "New bot" }).click()]);
  check(await page.locator(box("webhook_events", "message.sent")).isChecked(), "a new bot gets every event unless told");

  // Refused: no name. The API's message beside it; the scopes and URL as typed.
  await page.check(box("scopes", "channels:read"));
  await page.check(box("scopes", "messages:write"));
  await page.fill(field("webhook_url"), hook);
  await page.uncheck(box("webhook_events", "member.joined"));
  await Promise.all([page.waitForURL("**/ui/bots/new"), page.locator("#bot-form button[type=submit]").click()]);
  const err = await page.locator('[id="err-name"]').innerText();
  check(err.includes("1 to 80 characters"), `the name's message beside it (${err})`);
  check(await page.locator(box("scopes", "channels:read")).isChecked(), "the scopes ticked kept");
  check(!(await page.locator(box("webhook_events", "member.joined")).isChecked()), "the event unticked kept");
  check(await page.locator(field("webhook_url")).inputValue() === hook, "the URL as typed kept");
  check(await page.locator("header nav a", { hasText: "Bots" }).getAttribute("aria-current") === "page", "the navigation in place");
  await shot("bot-form-refused");

  await page.fill(field("name"), "Deploy Bot");
  await Promise.all([page.waitForURL("**/ui/bots/new"), page.locator("#bot-form button[type=submit]").click()]);
  check((await page.locator("h1").innerText()) === "Deploy Bot is registered", "the bot registered");
  const first = await page.locator("#bot-token").inputValue();
  check(first.startsWith("xbot-"), "its token, shown once");
  check((await page.locator("#webhook-secret").inputValue()).startsWith("whsec_"), "its webhook secret, shown once");
  check((await page.locator(".note-box").innerText()).includes("Copy them now"), "a hint to copy them now");
  await shot("bot-created");
  await Promise.all([page.waitForURL(/\/ui\/bots\/bot_[^/?]+$/), page.locator("#to-bot").click()]);
  const botId = page.url().match(/\/ui\/bots\/(bot_[^/?]+)/)[1];
  check(!(await page.content()).includes(first), "the token is not on the bot's page");

  // Edit: the form holds what is stored; a change is saved.
  await Promise.all([page.waitForURL(`**/ui/bots/${botId}/edit`), page.locator(".page-actions a", { hasText: "Edit" }).click()]);
  check(await page.locator(field("name")).inputValue() === "Deploy Bot", "the edit form holds the name");
  check(await page.locator(box("scopes", "messages:write")).isChecked(), "and the scopes");
  check(!(await page.locator(box("webhook_events", "member.joined")).isChecked()), "and the events");
  await page.fill(field("description"), "Ships what CI built");
  await page.selectOption(field("tier"), "enterprise");
  await shot("bot-edit");
  await Promise.all([page.waitForURL(/done=bot-saved/), page.locator("#bot-form button[type=submit]").click()]);
  check((await page.locator("#flash").innerText()).includes("Bot saved"), "a flash saying it was saved");
  check((await page.locator("dl").first().innerText()).includes("Ships what CI built"), "the description shown");
  check((await page.locator("dl").first().innerText()).includes("enterprise"), "the tier shown");

  // Install: a channel that does not exist is the API's 404, said on the form; then the one that does.
  await Promise.all([page.waitForURL(`**/ui/bots/${botId}/install`), page.locator(".page-actions a", { hasText: "Install" }).click()]);
  await page.fill(field("channel_id"), "C_NOWHERE");
  await Promise.all([page.waitForURL(`**/ui/bots/${botId}/install`), page.locator("#install-form button[type=submit]").click()]);
  const notFound = await page.locator("#form-errors").innerText();
  check(notFound.includes("C_NOWHERE") && notFound.includes("not found"), `the missing channel said above the form (${notFound})`);
  check(await page.locator(field("channel_id")).inputValue() === "C_NOWHERE", "the channel as typed kept");
  await shot("bot-install-refused");
  await page.fill(field("channel_id"), channelId);
  await page.check(box("permissions", "messages:write"));
  await Promise.all([page.waitForURL(/done=bot-installed/), page.locator("#install-form button[type=submit]").click()]);
  check((await page.locator("#installations").innerText()).includes(channelId), "the installation listed");
  await shot("bot-installed");

  // Rotate asks first; "yes" shows the new token once.
  let asked = "";
  page.once("dialog", (d) => { asked = d.message(); d.dismiss(); });
  await page.locator(".page-actions button", { hasText: "Rotate token" }).click();
  check(asked.includes("Give Deploy Bot a new token?"), `the question asked (${asked})`);
  check(page.url().includes("done=bot-installed"), "still on the bot after saying no");
  page.once("dialog", (d) => d.accept());
  await Promise.all([page.waitForURL(`**/ui/bots/${botId}/rotate-token`), page.locator(".page-actions button", { hasText: "Rotate token" }).click()]);
  const rotated = await page.locator("#bot-token").inputValue();
  check(rotated.startsWith("xbot-") && rotated !== first, "a new token, shown once");
  check((await page.locator("#shown-once").innerText()).includes("keeps working until"), "how long the old one works");
  await shot("bot-token-rotated");
  // The token shown works, and the first one still does, for its grace period.
  for (const [which, t] of [["the new", rotated], ["the first", first]]) {
    const r = await fetch(`${base}/api/v1/channels.list`, { headers: { authorization: `Bearer ${t}` } });
    check(r.status === 200, `${which} token is the bot's (${r.status})`);
  }
  console.log(`bot: ${botId}`);

  // Delete asks first: "no" keeps it, "yes" deletes it.
  await Promise.all([page.waitForURL(`**/ui/bots/${botId}`), page.locator("#to-bot").click()]);
  page.once("dialog", (d) => { asked = d.message(); d.dismiss(); });
  await page.locator(".page-actions button", { hasText: "Delete bot" }).click();
  check(asked.includes("Delete Deploy Bot"), `the question asked (${asked})`);
  check(page.url().endsWith(`/ui/bots/${botId}`), "still on the bot after saying no");
  page.once("dialog", (d) => d.accept());
  await Promise.all([page.waitForURL(/\/ui\/bots\?done=bot-deleted/), page.locator(".page-actions button", { hasText: "Delete bot" }).click()]);
  check((await page.locator("#flash").innerText()).includes("Bot deleted"), "a flash saying it was deleted");
  check(await page.locator(`a[href="/ui/bots/${botId}"]`).count() === 0, "no longer listed");
  await shot("bot-deleted");

  const gone = await page.goto(`${base}/ui/bots/${botId}`);
  check(gone.status() === 404, "its page answers 404");
  check((await page.locator("#error-detail").innerText()).includes(`bot \`${botId}\` not found`), "naming what was not found");
});
console.log("bot forms flow passed");
