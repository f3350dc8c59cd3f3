// Drives Debian's Chromium through the dashboard's endpoint forms: add an endpoint to an application (refused
// twice first: a header line without a colon, then a localhost URL; each message beside its field and what was
// typed kept), edit it (event types ticked and typed, channels, headers, throttle), reveal and copy its signing
// secret (the API's), write a transformation (a compile error shown beside the code, then "Try it" on a sample,
// then saved), disable it after saying yes, and delete it after saying no once. Then its 404 page.
// Input (JSON on stdin): base, token, appId, screenshots (a folder, or null).
import { check, inBrowser, logIn, readInput } from "./browser.mjs";

const { base, token, appId, screenshots } = await readInput();

/** The API's answer for `path`, with the organization's token. */
async function api(path) {
  const r = await fetch(`${base}${path}`, { headers: { authorization: `Bearer ${token}` } });
  return { status: r.status, body: await r.json().catch(() => null) };
}

await inBrowser({ screenshots, failedLoadsAllowed: true, viewport: { width: 1280, height: 900 } }, async ({ page, context, shot }) => {
  await logIn(page, base, token);
  await Promise.all([page.waitForURL("**/ui/apps"), page.locator("nav a", { hasText: "Applications" }).click()]);
  await Promise.all([page.waitForURL(`**/ui/apps/${appId}`), page.locator("td a", { hasText: "Billing" }).click()]);
  await Promise.all([page.waitForURL(`**/ui/apps/${appId}/endpoints/new`), page.locator("#add-endpoint").click()]);
  check(await page.locator("label[for=f-url]").innerText() === "URL", "the URL field has a label");
  check(await page.locator("#event-types input[type=checkbox]").count() === 3, "the organization's event types to tick");

  // Refused by the form: a header line without a colon (and a localhost URL the API would refuse too).
  const submit = () => Promise.all([page.waitForURL(/\/endpoints\/new$/), page.locator("#endpoint-form button[type=submit]").click()]);
  await page.fill("#f-url", "http://localhost:8080/hooks");
  await page.fill("#f-description", "Billing service");
  await page.locator("#event-types label", { hasText: "invoice.paid" }).click();
  await page.fill("#f-headers", "X-Team billing");
  await submit();
  check((await page.locator("#err-headers").innerText()).includes("X-Team billing"), "the header line's message beside it");
  check(await page.locator("#f-headers").getAttribute("aria-invalid") === "true", "the headers marked invalid");
  check(await page.inputValue("#f-url") === "http://localhost:8080/hooks", "the URL as typed kept");
  check(await page.inputValue("#f-description") === "Billing service", "the description as typed kept");
  check(await page.locator("#event-types input[value='invoice.paid']").isChecked(), "the ticked event type kept");
  check(await page.locator("header nav a", { hasText: "Applications" }).getAttribute("aria-current") === "page",
    "the navigation in place, Applications current");
  await shot("endpoint-form-refused-locally");

  // Refused by the API: localhost is not a public address.
  await page.fill("#f-headers", "X-Team: billing");
  await submit();
  const urlError = await page.locator("#err-url").innerText();
  check(urlError.includes("not a public address"), `the URL's message beside it (${urlError})`);
  check(await page.locator("#err-headers").count() === 0, "the headers now accepted");
  check(await page.inputValue("#f-headers") === "X-Team: billing", "the headers as typed kept");
  check((await page.locator("#form-errors").innerText()).includes("see the fields marked"), "a summary above the form");
  await shot("endpoint-form-refused");

  await page.fill("#f-url", "https://billing.example.com/hooks");
  await Promise.all([page.waitForURL(/\/endpoints\/ep_[^/?]+\?done=endpoint-created/), page.locator("#endpoint-form button[type=submit]").click()]);
  const epId = page.url().match(/\/endpoints\/(ep_[^/?]+)/)[1];
  console.log(`endpoint: ${epId}`);
  check((await page.locator("#flash").innerText()).includes("Endpoint created"), "a flash saying it was created");
  check(await page.locator("h1").innerText() === "https://billing.example.com/hooks", "the new endpoint's page");
  check((await page.locator("#event-types").innerText()).trim() === "invoice.paid", "its event type");
  await shot("endpoint-created");

  // Edit: more event types ticked and a pattern typed, channels, another header, a throttle.
  await Promise.all([page.waitForURL(/\/edit$/), page.locator(".page-actions a", { hasText: "Edit" }).click()]);
  check(await page.locator("#event-types input[value='invoice.paid']").isChecked(), "the edit form holds the event type");
  check(await page.inputValue("#f-headers") === "X-Team: billing", "the edit form holds the header");
  await page.locator("#event-types label", { hasText: "invoice.voided" }).click();
  await page.fill("#f-eventTypesOther", "order.*");
  await page.fill("#f-channels", "eu, us");
  await page.fill("#f-headers", "X-Team: billing\nX-Env: production");
  await page.fill("#f-throttleRate", "25");
  await shot("endpoint-form-edit");
  await Promise.all([page.waitForURL(/done=endpoint-saved/), page.locator("#endpoint-form button[type=submit]").click()]);
  const types = await page.locator("#event-types .tag").allInnerTexts();
  check(types.join(" ") === "invoice.paid invoice.voided order.*", `the event types shown (${types})`);
  check(await page.locator("#channels").innerText() === "#eu #us", "the channels shown");
  check((await page.locator("#custom-headers").innerText()).includes("X-Env: production"), "the new header shown");
  check((await page.locator("#throttle").innerText()).startsWith("25"), "the throttle shown");
  const stored = (await api(`/api/v1/app/${appId}/endpoint/${epId}`)).body;
  check(JSON.stringify(stored.eventTypes) === '["invoice.paid","invoice.voided","order.*"]', "the API has the event types");
  check(JSON.stringify(stored.channels) === '["eu","us"]' && stored.throttleRate === 25, "the API has the channels and the throttle");
  const headers = (await api(`/api/v1/app/${appId}/endpoint/${epId}/headers`)).body.headers;
  check(headers["X-Env"] === "production" && headers["X-Team"] === "billing", "the API has the headers");

  // The secret: not on the page until asked for; then the API's, with a way to copy it.
  check(!(await page.content()).includes("whsec_"), "no secret on the page before asking");
  await Promise.all([page.waitForURL(/\/secret$/), page.locator("#secret button", { hasText: "Reveal secret" }).click()]);
  const shown = await page.inputValue("#secret-key");
  const key = (await api(`/api/v1/app/${appId}/endpoint/${epId}/secret`)).body.key;
  check(shown.startsWith("whsec_") && shown === key, "the revealed secret is the API's");
  await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: base });
  await page.locator("#secret button", { hasText: "Copy" }).click();
  await page.locator("#secret button", { hasText: "Copied" }).waitFor();
  check(await page.evaluate(() => navigator.clipboard.readText()) === key, "the secret copied to the clipboard");
  await shot("endpoint-secret");
  await page.goto(`${base}/ui/apps/${appId}/endpoints/${epId}`);
  check(!(await page.content()).includes("whsec_"), "no secret on the page once left");

  // A transformation: code that does not compile is refused beside the code box, the code kept.
  await Promise.all([page.waitForURL(/\/transformation$/), page.locator("#edit-transformation").click()]);
  check(await page.locator("#f-enabled").isChecked(), "a new transformation is enabled by default");
  const broken = "function handler(webhook) {\n  webhook.payload = { text: `Invoice ${webhook.payload.id}` ;\n  return webhook;\n}";
  await page.fill("#f-code", broken);
  await Promise.all([page.waitForURL(/\/transformation$/), page.locator("#transformation-form .form-actions button").click()]);
  const codeError = await page.locator("#err-code").innerText();
  check(codeError.includes("SyntaxError"), `the compile error beside the code (${codeError})`);
  check(await page.inputValue("#f-code") === broken, "the code as typed kept");
  await shot("transformation-refused");

  // Fixed, tried on a sample before saving, then saved.
  const code = "function handler(webhook) {\n  webhook.payload = { text: `Invoice ${webhook.payload.id}: ${(webhook.payload.amount / 100).toFixed(2)}` };\n  return webhook;\n}";
  await page.fill("#f-code", code);
  await page.fill("#f-eventType", "invoice.paid");
  await page.fill("#f-payload", '{"id": 42, "amount": 1999}');
  await Promise.all([page.waitForURL(/transformation\/try$/), page.locator("#sample button", { hasText: "Try it" }).click()]);
  const trial = await page.locator("#trial").innerText();
  check(trial.includes('"text": "Invoice 42: 19.99"'), `the sample transformed (${trial})`);
  check(trial.includes("POST") && trial.includes("https://billing.example.com/hooks"), "how and where it would be sent");
  check(await page.inputValue("#f-code") === code, "the code kept after trying");
  check((await api(`/api/v1/app/${appId}/endpoint/${epId}/transformation`)).body.code === null, "trying saved nothing");
  await shot("transformation-tried");
  await Promise.all([page.waitForURL(/done=transformation-saved/), page.locator("#transformation-form .form-actions button").click()]);
  check((await page.locator("#flash").innerText()).includes("Transformation saved"), "a flash saying it was saved");
  check((await page.locator("#transformation pre").innerText()).includes("toFixed(2)"), "the code on the endpoint's page");
  check(await page.locator("#transformation .badge").innerText() === "enabled", "enabled");
  const t = (await api(`/api/v1/app/${appId}/endpoint/${epId}/transformation`)).body;
  check(t.code === code && t.enabled === true, "the API has the transformation");

  // Disabling asks first.
  page.once("dialog", (d) => d.accept());
  await Promise.all([page.waitForURL(/\/endpoints\/ep_[^/]+$/), page.locator("button", { hasText: "Disable endpoint" }).click()]);
  check(await page.locator("#state").innerText() === "disabled", "disabled after saying yes");
  await shot("endpoint-edited");

  // Delete asks first: "no" keeps it, "yes" deletes it.
  let asked = "";
  page.once("dialog", (d) => { asked = d.message(); d.dismiss(); });
  await page.locator(".page-actions button", { hasText: "Delete endpoint" }).click();
  check(asked.includes("Delete the endpoint https://billing.example.com/hooks"), `the question asked (${asked})`);
  check(page.url().endsWith(`/endpoints/${epId}`), "still on the endpoint after saying no");
  check((await api(`/api/v1/app/${appId}/endpoint/${epId}`)).status === 200, "still there for the API");
  page.once("dialog", (d) => d.accept());
  await Promise.all([page.waitForURL(/done=endpoint-deleted/), page.locator(".page-actions button", { hasText: "Delete endpoint" }).click()]);
  check((await page.locator("#flash").innerText()).includes("Endpoint deleted"), "a flash saying it was deleted");
  check(await page.locator(`a[href$="/endpoints/${epId}"]`).count() === 0, "no longer listed");
  await shot("endpoint-deleted");

  const resp = await page.goto(`${base}/ui/apps/${appId}/endpoints/${epId}`);
  check(resp.status() === 404, "its page answers 404");
  check((await page.locator("#error-detail").innerText()).includes(`endpoint \`${epId}\` not found`), "the page says what was not found");
  check(await page.locator("header nav a", { hasText: "Applications" }).isVisible(), "the navigation on the 404 page");
});
console.log("endpoint forms flow passed");
