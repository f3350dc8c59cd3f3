// Drives Debian's Chromium through the dashboard's view of a Svix Ingest source: the inbound page lists it as a
// source (its name, type and ingest URL), and its registration's page shows the event it accepted and the
// request it refused with why, and replays the event to the source's endpoints. Input (JSON on stdin): base,
// token, screenshots (a folder, or null), source, ingestUrl, name.
import { check, inBrowser, logIn, readInput } from "./browser.mjs";

const { base, token, screenshots, source, ingestUrl, name } = await readInput();

await inBrowser({ screenshots }, async ({ page, shot }) => {
  await logIn(page, base, token);
  await Promise.all([page.waitForURL(`${base}/ui/inbound`), page.locator("header nav a", { hasText: "Inbound" }).click()]);
  const row = page.locator("#registrations tr.registration", { hasText: source });
  check(await row.count() === 1, `the source listed once (${source})`);
  const text = await row.innerText();
  check(text.includes(name), `by its name (${text})`);
  check(text.includes("Svix Ingest source"), "tagged as an Ingest source");
  check(text.includes("github"), "with its type");
  check(await row.locator(".ingest-url").innerText() === ingestUrl, "with its ingest URL");
  check(!text.includes(`${base}/webhooks/`), "and no URL that refuses");
  await shot("ingest-source-listed");

  await Promise.all([page.waitForURL(/\/ui\/inbound\/whr_/), row.locator("a", { hasText: name }).click()]);
  const h1 = await page.locator("h1").innerText();
  check(h1.includes(name) && h1.includes("Svix Ingest source"), `the page names the source (${h1})`);
  check(await page.locator("#webhook-url").innerText() === ingestUrl, "its ingest URL");
  check(await page.locator(".page-actions").count() === 0, "no registration actions: the Ingest API manages it");
  check((await page.locator("#events").innerText()).includes("push"), "the accepted event");
  const refused = page.locator("#refused-requests tr.refused");
  check(await refused.count() === 1, "the refused request");
  check(await refused.getAttribute("data-reason") === "bad_signature", "refused for its signature");
  check((await refused.innerText()).toLowerCase().includes("signature"), `with why (${await refused.innerText()})`);
  await shot("ingest-source-registration");

  // Replay the accepted event: published again to the source's endpoints.
  await Promise.all([page.waitForURL(/\/events\//), page.locator("#events a").first().click()]);
  const replay = page.locator("form.replay button[type=submit]");
  check(await page.locator(".crumbs").innerText() === `Inbound / ${name} /`, "the crumbs name the source");
  check(await replay.isEnabled(), "replay offered");
  page.on("dialog", (d) => d.accept());
  await Promise.all([page.waitForURL(/\/events\//), replay.click()]);
  await page.locator("#replayed").waitFor();
  check((await page.locator("#replayed").innerText()).startsWith("Replayed as message msg_"), "replayed as a message");
  await shot("ingest-source-replayed");
  await page.locator("#replayed a").click();
  await page.waitForLoadState();
  check(page.url().includes("/messages/msg_"), `the replayed message's page (${page.url()})`);
  await shot("ingest-source-message");
});
console.log("ingest source dashboard flow passed");
