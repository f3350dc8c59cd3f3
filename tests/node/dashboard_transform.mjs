// Drives Debian's Chromium through the dashboard's endpoint page: it shows the endpoint's transformation, and
// "Try it" runs it on an example (the API's dry run): the shaped payload and URL, a cancellation, and a payload
// that is not JSON. Input (JSON on stdin): base, token, appId, endpointId, screenshots (a folder, or null).
import { chromium } from "playwright-core";

const input = JSON.parse(await new Promise((resolve) => {
  let text = "";
  process.stdin.on("data", (chunk) => (text += chunk));
  process.stdin.on("end", () => resolve(text));
}));
const { base, token, appId, endpointId, screenshots } = input;

function check(cond, what) {
  if (!cond) throw new Error(`expected ${what}`);
  console.log(`ok: ${what}`);
}

const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  page.setDefaultTimeout(20_000);
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  page.on("console", (m) => m.type() === "error" && errors.push(m.text()));

  await page.goto(`${base}/ui/login`);
  await page.fill("#token", token);
  await Promise.all([page.waitForURL(`${base}/ui/`), page.click("button[type=submit]")]);
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
  if (screenshots) await page.screenshot({ path: `${screenshots}/endpoint-transformation.png`, fullPage: true });

  await page.fill("#try_payload", '{"id": 7, "test": true}');
  await page.click("#transformation button[type=submit]");
  await page.locator(".trial-result .notice").waitFor();
  check((await result.innerText()).includes("nothing would be sent"), "a cancellation");

  await page.fill("#try_payload", "{not json");
  await page.click("#transformation button[type=submit]");
  await page.locator(".trial-result .error").waitFor();
  check((await result.innerText()).includes("not JSON"), "an example that is not JSON, said plainly");
  check(errors.length === 0, `no script errors (${errors.join("; ")})`);
  console.log("dashboard transform passed");
} finally {
  await browser.close();
}
