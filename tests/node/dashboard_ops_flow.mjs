// Drives Debian's Chromium through the dashboard's operating screens: the overview's charts, an endpoint's
// sparkline, finding a message by its eventId and reading the headers it was sent, rotating an endpoint's secret,
// sending it an example and seeing that attempt, editing its filters and headers in its form, and searching messages by
// status. Input (JSON on stdin): base, token, appId, endpointId, eventId, msgId, failedMsgId, and screenshots (a
// folder to save the screens in, or null).
import { check, inBrowser, logIn, readInput } from "./browser.mjs";

const input = await readInput();
const { base, token, appId, endpointId, eventId, msgId, failedMsgId, screenshots } = input;

await inBrowser({ screenshots }, async ({ page, shot }) => {
  const endpointUrl = `${base}/ui/apps/${appId}/endpoints/${endpointId}`;

  await logIn(page, base, token);

  // The overview's charts: messages and attempts per minute over the last hour, and the success rate.
  for (const id of ["hour-messages", "hour-attempts", "hour-rate", "day-messages", "day-attempts", "day-rate"]) {
    check(await page.locator(`#${id} > svg`).isVisible(), `the chart ${id} drawn`);
  }
  check(await page.locator("#hour-messages rect.a").count() >= 1, "bars of published messages in the last hour");
  check(await page.locator("#hour-attempts rect.b").count() >= 1, "failed attempts stacked in the last hour");
  check(await page.locator("#hour-rate polyline.rate-line").count() === 1, "a success-rate line");
  const box = await page.locator("#hour-attempts > svg").boundingBox();
  check(box.width > 300 && box.height > 60, `a chart of a readable size (${box.width}×${box.height})`);
  const messages = Number(await page.locator("#activity-hour .totals dd").first().innerText());
  check(messages >= 4, `the hour's messages counted (${messages})`);
  await shot("overview");

  // The application's endpoints, each with its success-rate sparkline and last attempt.
  await Promise.all([page.waitForURL(`**/ui/apps`), page.locator("nav a", { hasText: "Applications" }).click()]);
  await Promise.all([page.waitForURL(`**/ui/apps/${appId}`), page.locator("td a", { hasText: "Shop" }).click()]);
  const row = page.locator("#endpoints tr", { has: page.locator(`a[href$="/endpoints/${endpointId}"]`) });
  check(await row.locator(".spark circle").count() >= 1, "the endpoint's sparkline");
  check(await row.locator(".badge").last().innerText() === "200", "the endpoint's last attempt");

  // Find a message by its eventId; its page shows the headers the endpoint was sent.
  await Promise.all([page.waitForURL(`**/messages?**`), page.locator("form.search button").click()]);
  await page.fill("input[name=q]", eventId);
  await Promise.all([page.waitForURL(`**/messages/${msgId}`), page.locator("#message-search button").click()]);
  check(await page.locator("h1").innerText().then((t) => t.includes(msgId)), "the message found by its eventId");
  const sent = page.locator(`#sent-headers .sent[data-endpoint="${endpointId}"]`);
  const sentText = await sent.innerText();
  check(sentText.includes("svix-id") && sentText.includes(msgId), "the svix-id header sent");
  check(/svix-signature\s+v1,/.test(sentText), "the svix-signature header sent");
  check(sentText.includes("x-shop") && sentText.includes("custom"), "the endpoint's custom header sent");
  check(!sentText.includes("whsec_"), "no secret on the page");

  // Search by status: the failed message, and not the delivered one.
  await page.goto(`${base}/ui/apps/${appId}/messages`);
  await page.selectOption("select[name=status]", "failed");
  await Promise.all([page.waitForURL(/status=failed/), page.locator("#message-search button").click()]);
  check(await page.locator(`#messages a[href$="/messages/${failedMsgId}"]`).count() === 1, "the failed message found");
  check(await page.locator(`#messages a[href$="/messages/${msgId}"]`).count() === 0, "the delivered one left out");
  await shot("messages");

  // The endpoint: its stats chart, then rotate its secret.
  await page.goto(endpointUrl);
  check(await page.locator("#endpoint-attempts rect.a").count() >= 1, "the endpoint's attempts chart");
  const before = await page.locator("#keys .mono").first().innerText();
  await page.selectOption("#grace", "24");
  let asked = "";
  page.once("dialog", (d) => { asked = d.message(); d.accept(); });
  await Promise.all([page.waitForURL(/done=rotated/), page.locator("#rotate button").click()]);
  check(asked.startsWith("Rotate the signing secret"), `rotating asks first (${asked})`);
  check((await page.locator("#flash").innerText()).includes("Secret rotated"), "a flash after rotating");
  const keys = await page.locator("#keys .mono").allInnerTexts();
  check(keys.length === 2 && keys[0] !== before && keys[1] === before, "a new current key, the old one in its grace");
  check((await page.locator("#keys").innerText()).includes("signs until"), "until when the old key signs");

  // Send an example; follow the flash's link to the message and see its attempt.
  await page.fill("#example-type", "invoice.paid");
  await Promise.all([page.waitForURL(/done=example/), page.locator("#send-example button").click()]);
  await Promise.all([page.waitForURL(/\/messages\/msg_/), page.locator("#flash a").click()]);
  const okRow = page.locator("tr.attempt.ok");
  await okRow.first().waitFor();
  check(await okRow.first().locator(".status-code").innerText() === "200", "the example's attempt, status 200");
  const exampleId = page.url().split("/messages/")[1];
  console.log(`example: ${exampleId}`);

  // Edit the endpoint's filters and headers, in its form.
  await page.goto(endpointUrl);
  await Promise.all([page.waitForURL(/\/edit$/), page.locator(".page-actions a", { hasText: "Edit" }).click()]);
  check(await page.locator("#f-headers").inputValue() === "X-Shop: acme", "the form holds the custom header");
  await page.fill("#f-eventTypesOther", "invoice.*, order.created");
  await page.fill("#f-channels", "eu");
  await page.fill("#f-headers", "X-Shop: acme\nX-Region: eu-west");
  await Promise.all([page.waitForURL(/done=endpoint-saved/), page.locator("#endpoint-form button[type=submit]").click()]);
  const types = await page.locator("#event-types .tag").allInnerTexts();
  check(types.join(" ") === "invoice.* order.created", `the new event type filter (${types})`);
  check(await page.locator("#channels").innerText() === "#eu", "the new channel filter");
  check((await page.locator("#custom-headers").innerText()).includes("X-Region: eu-west"), "the new custom header");
  await shot("endpoint");
});
console.log("dashboard ops flow passed");
