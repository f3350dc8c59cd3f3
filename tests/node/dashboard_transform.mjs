// Drives Debian's Chromium through an endpoint's transformation: its page shows it, and the editor's "Try it" runs
// it on a sample (the API's dry run): the shaped payload and URL, a cancellation, and a sample that is not JSON.
// Input (JSON on stdin): base, token, appId, endpointId, screenshots (a folder, or null).
import { check, inBrowser, logIn, readInput } from "./browser.mjs";

const input = await readInput();
const { base, token, appId, endpointId, screenshots } = input;

await inBrowser({ screenshots, viewport: { width: 1280, height: 900 }, failedLoadsAllowed: true }, async ({ page, shot }) => {

  await logIn(page, base, token);
  await page.goto(`${base}/ui/apps/${appId}/endpoints/${endpointId}`);
  const card = page.locator("#transformation");
  check((await card.innerText()).includes("function handler(webhook)"), "the transformation's code on the endpoint page");
  check((await card.locator(".badge").innerText()) === "enabled", "its state");

  await Promise.all([page.waitForURL(/\/transformation$/), page.click("#edit-transformation")]);
  check((await page.inputValue("#f-code")).includes("webhook.method = 'PUT'"), "the editor holds the code");
  const tryIt = page.locator("#sample button", { hasText: "Try it" });
  await page.fill("#f-eventType", "invoice.paid");
  await page.fill("#f-payload", '{"id": 42, "amount": 1999}');
  await Promise.all([page.waitForURL(/transformation\/try/), tryIt.click()]);
  const result = page.locator("#trial");
  const text = await result.innerText();
  check(text.includes('"text": "Invoice 42 paid: 19.99"'), "the shaped payload");
  check(text.includes("PUT") && text.includes("/services/T0/B0/X"), "the method and the changed URL");
  check((await page.inputValue("#f-payload")).includes('"amount": 1999'), "the sample kept in the form");
  await shot("endpoint-transformation");

  await page.fill("#f-payload", '{"id": 7, "test": true}');
  await tryIt.click();
  await page.locator("#trial .notice").waitFor();
  check((await result.innerText()).includes("nothing would be sent"), "a cancellation");

  await page.fill("#f-payload", "{not json");
  await tryIt.click();
  await page.locator("#err-payload").waitFor();
  check((await page.locator("#err-payload").innerText()).includes("not JSON"), "a sample that is not JSON, said beside it");
});
console.log("dashboard transform passed");
