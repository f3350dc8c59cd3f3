// Drives Debian's Chromium through the dashboard's endpoint page: it shows the endpoint's transformation, and
// "Try it" runs it on an example (the API's dry run): the shaped payload and URL, a cancellation, and a payload
// that is not JSON. Input (JSON on stdin): base, token, appId, endpointId, screenshots (a folder, or null).
import { check, inBrowser, logIn, readInput } from "./browser.mjs";

const input = await readInput();
const { base, token, appId, endpointId, screenshots } = input;

await inBrowser({ screenshots, viewport: { width: 1280, height: 900 } }, async ({ page, shot }) => {

  await logIn(page, base, token);
  await page.goto(`${base}/ui/apps/${appId}/endpoints/${endpointId}`);
  const card = page.locator("#transformation");
  check((await card.innerText()).includes("function handler(webhook)"), "the transformation's code on the endpoint page");
  check((await card.locator(".badge").innerText()) === "enabled", "its state");

  await page.fill("#try_event_type", "invoice.paid");
  await page.fill("#try_payload", '{"id": 42, "amount": 1999}');
  await Promise.all([page.waitForURL(/transformation\/try/), page.click("#transformation button[type=submit]")]);
  const result = page.locator(".trial-result");
  const text = await result.innerText();
  check(text.includes('"text": "Invoice 42 paid: 19.99"'), "the shaped payload");
  check(text.includes("PUT") && text.includes("/services/T0/B0/X"), "the method and the changed URL");
  check((await page.inputValue("#try_payload")).includes('"amount": 1999'), "the example kept in the form");
  await shot("endpoint-transformation");

  await page.fill("#try_payload", '{"id": 7, "test": true}');
  await page.click("#transformation button[type=submit]");
  await page.locator(".trial-result .notice").waitFor();
  check((await result.innerText()).includes("nothing would be sent"), "a cancellation");

  await page.fill("#try_payload", "{not json");
  await page.click("#transformation button[type=submit]");
  await page.locator(".trial-result .error").waitFor();
  check((await result.innerText()).includes("not JSON"), "an example that is not JSON, said plainly");
});
console.log("dashboard transform passed");
