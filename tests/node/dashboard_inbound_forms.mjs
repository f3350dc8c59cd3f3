// Drives Debian's Chromium through the dashboard's inbound registration forms: create one (a refused try first,
// its message beside the field and what was typed kept), read the URL and secret shown once, send it a request
// signed as Standard Webhooks sign (it must be accepted and forwarded), edit it, and delete it after saying no
// once to the question; then a Redis Streams queue source made through the same form. Input (JSON on stdin): base,
// token, redisUrl, queueStream, screenshots (a folder, or null).
import { createHmac } from "node:crypto";
import { check, inBrowser, logIn, readInput } from "./browser.mjs";

const { base, token, screenshots, redisUrl, queueStream } = await readInput();
const field = (name) => `[name="${name}"]`;

await inBrowser({ screenshots, failedLoadsAllowed: true }, async ({ page, shot }) => {
  await logIn(page, base, token);
  await Promise.all([page.waitForURL(`${base}/ui/inbound`), page.locator("header nav a", { hasText: "Inbound" }).click()]);
  await Promise.all([page.waitForURL("**/ui/inbound/new"), page.locator("a", { hasText: "New inbound webhook" }).click()]);
  check(await page.locator("#providers legend").innerText() === "Provider", "the providers have a legend");
  const stripe = page.locator(".provider-choice", { hasText: "Stripe" });
  check((await stripe.innerText()).includes("whsec_"), "each provider says where its secret comes from");
  check(await page.locator(field("events")).inputValue() === "*", "every event, unless told otherwise");

  // About a hundred providers: the filter box narrows the list by name, keeping the one chosen in view.
  const shown = async () => page.locator(".provider-choice:visible").count();
  const all = await page.locator(".provider-choice").count();
  check(all >= 80 && (await shown()) === all, `every provider listed at first (${all})`);
  await page.locator(".provider-filter").fill("standard web");
  check((await page.locator(".provider-choice:visible .id").allInnerTexts()).join() === "standardwebhooks", "only Standard Webhooks matches");
  await page.locator(".provider-filter").press("Enter");
  check(page.url().endsWith("/ui/inbound/new"), "Enter in the filter submits nothing");
  await page.locator(".provider-choice", { hasText: "Standard Webhooks" }).click();
  await page.locator(".provider-filter").fill("no such provider");
  check(await page.locator("[data-filter-empty]").isVisible(), "no match says so");
  check((await shown()) === 1 && await page.locator('input[value="standardwebhooks"]').isVisible(), "the chosen one stays in view");
  await shot("inbound-form-filter");
  await page.locator(".provider-filter").fill("");
  check((await shown()) === all && !(await page.locator("[data-filter-empty]").isVisible()), "cleared: all again");

  // A refused form: the connection left blank. The API's message beside it, the rest as typed.
  await page.fill(field("events"), "invoice.*");
  await page.selectOption(field("destination.appId"), { label: "Billing (billing)" });
  await Promise.all([page.waitForURL("**/ui/inbound/new"), page.locator("#inbound-form button[type=submit]").click()]);
  const err = await page.locator('[id="err-connectionId"]').innerText();
  check(err.includes("must not be empty"), `the connection's message beside it (${err})`);
  check(await page.locator('input[value="standardwebhooks"]').isChecked(), "the provider picked kept");
  check(await page.locator(field("events")).inputValue() === "invoice.*", "the events as typed kept");
  check(await page.locator(`${field("destination.appId")} option:checked`).innerText() === "Billing (billing)", "the destination kept");
  check(await page.locator("header nav a", { hasText: "Inbound" }).getAttribute("aria-current") === "page", "the navigation in place");
  await shot("inbound-form-refused");

  await page.fill(field("connectionId"), "acme-billing");
  await Promise.all([page.waitForURL("**/ui/inbound/new"), page.locator("#inbound-form button[type=submit]").click()]);
  check((await page.locator("h1").innerText()).startsWith("Inbound webhook created"), "the registration made");
  const url = await page.locator("#webhook-url").inputValue();
  const secret = await page.locator("#webhook-secret").inputValue();
  check(url.startsWith(`${base}/webhooks/whr_`), `the URL to give the provider (${url})`);
  check(secret.startsWith("whsec_"), "its secret, shown once");
  check(await page.locator('button[data-copy="webhook-secret"]').isVisible(), "a Copy button beside the secret");
  await shot("inbound-created");
  const regId = url.split("/").pop();

  // The provider's request, signed with that secret as Standard Webhooks sign: verified and forwarded.
  const body = JSON.stringify({ type: "invoice.paid", timestamp: new Date().toISOString(), data: { id: "in_browser" } });
  const ts = Math.floor(Date.now() / 1000).toString();
  const id = "msg_browser_1";
  const sig = createHmac("sha256", Buffer.from(secret.slice("whsec_".length), "base64")).update(`${id}.${ts}.${body}`).digest("base64");
  const resp = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", "webhook-id": id, "webhook-timestamp": ts, "webhook-signature": `v1,${sig}` },
    body,
  });
  const answer = await resp.json();
  check(resp.status === 200 && answer.syncTriggered === true, `the signed request accepted and forwarded (${JSON.stringify(answer)})`);

  await Promise.all([page.waitForURL(`**/ui/inbound/${regId}`), page.locator("#to-registration").click()]);
  check((await page.locator("#events").innerText()).includes("invoice.paid"), "the event on the registration's page");
  await shot("inbound-registration");

  // Edit: the form holds what is stored; a change is saved.
  await Promise.all([page.waitForURL(`**/ui/inbound/${regId}/edit`), page.locator(".page-actions a", { hasText: "Edit" }).click()]);
  check(await page.locator(field("events")).inputValue() === "invoice.*", "the edit form holds the events");
  check(await page.locator(`${field("destination.appId")} option:checked`).innerText() === "Billing (billing)", "and the destination");
  check(await page.locator(field("rateLimitPerMinute")).inputValue() === "", "the server's default rate left blank, not pinned");
  await page.fill(field("events"), "invoice.paid, invoice.payment_failed");
  await page.fill(field("rateLimitPerMinute"), "30");
  await page.locator("details.more summary").click();
  check(await page.locator(field("transformation.code")).isVisible(), "more settings unfold");
  await shot("inbound-edit");
  await Promise.all([page.waitForURL(/done=inbound-saved/), page.locator("#inbound-form button[type=submit]").click()]);
  check((await page.locator("#flash").innerText()).includes("Inbound webhook saved"), "a flash saying it was saved");
  check((await page.locator("dl").first().innerText()).includes("invoice.payment_failed"), "the new events shown");
  check((await page.locator("dl").first().innerText()).includes("30 / minute"), "the new rate shown");
  console.log(`registration: ${regId}`);

  // Rotate the secret: a form that asks before it posts; the new secret shown once.
  await Promise.all([page.waitForURL(`**/ui/inbound/${regId}/rotate`), page.locator(".page-actions a", { hasText: "Rotate secret" }).click()]);
  check(await page.locator(field("gracePeriodSeconds")).inputValue() === "86400", "a day's grace unless told");
  await shot("inbound-rotate");
  let asked = "";
  page.once("dialog", (d) => { asked = d.message(); d.dismiss(); });
  await page.locator("#rotate-form button[type=submit]").click();
  check(asked.startsWith("Rotate the secret of this standardwebhooks webhook?"), `the question asked (${asked})`);
  check(page.url().endsWith(`/ui/inbound/${regId}/rotate`), "still on the form after saying no");
  page.once("dialog", (d) => d.accept());
  await Promise.all([page.waitForURL(`**/ui/inbound/${regId}/rotate`), page.locator("#rotate-form button[type=submit]").click()]);
  check((await page.locator("h1").innerText()).startsWith("New secret"), "the new secret's page");
  const rotated = await page.locator("#webhook-secret").inputValue();
  check(rotated.startsWith("whsec_") && rotated !== secret, "a new secret, shown once");
  await shot("inbound-rotated");
  await Promise.all([page.waitForURL(`**/ui/inbound/${regId}`), page.locator("#to-registration").click()]);

  // Delete asks first: "no" keeps it, "yes" deletes it.
  page.once("dialog", (d) => { asked = d.message(); d.dismiss(); });
  await page.locator(".page-actions button", { hasText: "Delete" }).click();
  check(asked.includes("Delete this standardwebhooks webhook (acme-billing)"), `the question asked (${asked})`);
  check(page.url().endsWith(`/ui/inbound/${regId}`), "still on the registration after saying no");
  page.once("dialog", (d) => d.accept());
  await Promise.all([page.waitForURL(/\/ui\/inbound\?done=inbound-deleted/), page.locator(".page-actions button", { hasText: "Delete" }).click()]);
  check((await page.locator("#flash").innerText()).includes("Inbound webhook deleted"), "a flash saying it was deleted");
  check(await page.locator(`a[href="/ui/inbound/${regId}"]`).count() === 0, "no longer listed");
  await shot("inbound-deleted");

  const gone = await page.goto(`${base}/ui/inbound/${regId}/edit`);
  check(gone.status() === 404, "its edit page answers 404");
  check((await page.locator("#error-detail").innerText()).includes(regId), "naming what was not found");

  // A queue source: Redis Streams, its broker and stream as JSON. A config missing its stream is refused beside
  // the field; then it is made, with no URL or secret to hand over, and its page shows the consumer.
  await page.goto(`${base}/ui/inbound/new`);
  const redis = page.locator(".provider-choice", { hasText: "Redis Streams" });
  check((await redis.innerText()).includes("url, stream, group"), "a queue kind says what its config takes");
  await redis.click();
  await page.fill(field("connectionId"), "orders-stream");
  await page.selectOption(field("destination.appId"), { label: "Billing (billing)" });
  await page.fill(field("config"), JSON.stringify({ url: redisUrl, group: "hookd-ui" }));
  await Promise.all([page.waitForURL("**/ui/inbound/new"), page.locator("#inbound-form button[type=submit]").click()]);
  const configErr = await page.locator('[id="err-config"]').innerText();
  check(configErr.includes("stream"), `the config's message names the missing field (${configErr})`);
  await page.fill(field("config"), JSON.stringify({ url: redisUrl, stream: queueStream, group: "hookd-ui", eventTypePath: "kind" }));
  await Promise.all([page.waitForURL("**/ui/inbound/new"), page.locator("#inbound-form button[type=submit]").click()]);
  await page.locator("#consuming").waitFor();
  check(await page.locator("#webhook-url, #webhook-secret").count() === 0, "no URL or secret to hand over");
  await shot("inbound-queue-created");
  await page.locator("#to-registration").click();
  await page.locator("#consumer").waitFor();
  const queueReg = page.url().split("/").pop();
  const deadline = Date.now() + 20_000;
  while (!(await page.locator("#consumer").innerText()).includes("connected")) {
    if (Date.now() > deadline) throw new Error("timed out waiting for the consumer to connect");
    await page.waitForTimeout(200);
    await page.reload();
  }
  check((await page.locator("#queue-config").innerText()).includes(queueStream), "what it consumes");
  await shot("inbound-queue-registration");
  console.log(`queue registration: ${queueReg}`);
});
console.log("inbound forms flow passed");
