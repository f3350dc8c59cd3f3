// Drives Debian's Chromium through the event catalog and payload filters: the dashboard's catalog page, a refused
// and then a saved filter in the endpoint form, the public /catalog/ without logging in, and the app portal's
// catalog, where the customer subscribes an endpoint to a type, then tries the endpoint's filter on a sample.
// Input (JSON on stdin): base, token, appId, endpointId, portalUrl, screenshots (a folder, or null).
import { check, inBrowser, logIn, readInput } from "./browser.mjs";

const { base, token, appId, endpointId, portalUrl, screenshots } = await readInput();

await inBrowser({ screenshots, failedLoadsAllowed: true }, async ({ page, context, watch, shot }) => {
  await logIn(page, base, token);
  await Promise.all([page.waitForURL("**/ui/catalog"), page.locator("header nav a", { hasText: "Catalog" }).click()]);
  check(await page.locator("h2.group").allInnerTexts().then((g) => g.join(",") === "billing,Other events"),
    "the types grouped, the ungrouped last");
  const paid = page.locator("section#invoice\\.paid");
  const row = await paid.locator("table.fields tr", { hasText: "invoiceId" }).innerText();
  check(row.includes("string") && row.includes("required") && row.includes("The invoice's id"), `invoice.paid's fields in a table (${row})`);
  check((await paid.locator("tr", { hasText: "customer.tier" }).innerText()).includes('"free" | "gold"'), "a nested enum field");
  check((await paid.locator("pre.example").textContent()).includes('"invoiceId": "in_123"'), "the schema's own example");
  await shot("catalog");

  // A filter the API refuses is shown beside its field, with where it is wrong; a good one is saved.
  await page.goto(`${base}/ui/apps/${appId}/endpoints/${endpointId}/edit`);
  await page.fill("#f-filter", '{"payload": {"amount": {"$gtt": 100}}}');
  await Promise.all([page.waitForURL("**/edit"), page.locator("#endpoint-form button[type=submit]").click()]);
  const err = await page.locator("#err-filter").innerText();
  check(err.includes("payload.amount.$gtt: unknown operator"), `the filter's refusal beside it (${err})`);
  check((await page.locator("#f-filter").inputValue()).includes("$gtt"), "the filter as typed kept");
  await shot("endpoint-filter-refused");
  await page.fill("#f-filter", '{"payload": {"amount": {"$gte": 100}}}');
  await Promise.all([page.waitForURL(/done=endpoint-saved/), page.locator("#endpoint-form button[type=submit]").click()]);
  check((await page.locator("#filter").innerText()).includes('"$gte":100'), "the endpoint's page shows its filter");

  // The public catalog, in a browser that never logged in.
  const anon = await context.browser().newContext({ viewport: { width: 1280, height: 860 } });
  const pub = await anon.newPage();
  watch(pub);
  await pub.goto(`${base}/catalog/`);
  check(await pub.locator("h1").innerText() === "Webhook events", "the public catalog's title");
  check(await pub.locator("section.event-type").count() === 2, "both released types, not the flagged one");
  check(await pub.locator("header nav").count() === 0, "no dashboard navigation in public");
  await shot("catalog-public", pub);
  await anon.close();

  // The portal's catalog: subscribe the endpoint to user.created.
  const portal = await context.newPage();
  watch(portal);
  await portal.goto(portalUrl);
  await portal.locator("#nav a", { hasText: "Event catalog" }).click();
  await portal.locator("section#type-user\\.created").waitFor();
  check(await portal.locator("section.event-type").count() === 2, "the portal shows the types its link may see");
  await portal.locator("section#type-user\\.created button[data-subscribe]").click();
  await portal.locator("p.notice", { hasText: "now receives user.created" }).waitFor();
  check(true, "subscribed from the catalog");
  await shot("portal-catalog", portal);

  // The endpoint form tries its filter on a sample.
  await portal.goto(`${portalUrl.split("#")[0]}#/endpoints/${endpointId}/edit`);
  await portal.locator("#filter").waitFor();
  check((await portal.locator("#filter").inputValue()).includes("$gte"), "the portal's form holds the filter");
  await portal.locator("#try-filter summary").click();
  await portal.fill("#sample-type", "invoice.paid");
  await portal.fill("#sample", '{"amount": 20}');
  await portal.click("#test-filter");
  await portal.locator("#verdict", { hasText: "no match" }).waitFor();
  check((await portal.locator("#verdict").innerText()).includes("payload.amount $gte 100"), "why a sample does not match");
  await portal.fill("#sample", '{"amount": 120}');
  await portal.click("#test-filter");
  await portal.locator("#verdict", { hasText: "matches" }).waitFor();
  check(true, "a matching sample");
  await shot("portal-filter-test", portal);
});
console.log("catalog flow passed");
