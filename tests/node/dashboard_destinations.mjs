// Drives Debian's Chromium through a stuck destination on its application's page: its state, how far behind it is
// and why, then "Retry now" (step `retry`) or "Skip batch", asked first (step `skip`).
// Input (JSON on stdin): base, token, appId, destinationId, step, screenshots (a folder, or null).
import { check, inBrowser, logIn, readInput } from "./browser.mjs";

const { base, token, appId, destinationId, step, screenshots } = await readInput();

await inBrowser({ screenshots, viewport: { width: 1280, height: 900 } }, async ({ page, shot }) => {
  await logIn(page, base, token);
  await page.goto(`${base}/ui/apps/${appId}`);
  const row = page.locator("#destination-table tbody tr", { hasText: destinationId });
  const text = await row.innerText();
  check(text.includes("fifoEndpoint") && text.includes("retrying"), `the destination, retrying: ${text}`);
  check(text.includes("2 events"), `how far behind it is: ${text}`);
  check(text.includes("503"), `why its batch failed: ${text}`);
  check(text.includes("next try"), `when it tries again: ${text}`);
  if (step === "retry") {
    await row.scrollIntoViewIfNeeded();
    await shot("app-destinations");
    await Promise.all([page.waitForURL(/done=destination-retried/), row.locator("button", { hasText: "Retry now" }).click()]);
    check((await page.locator("body").innerText()).includes("tries its held batch again now"), "the retry said");
    return;
  }
  let asked = "";
  page.once("dialog", (d) => { asked = d.message(); d.accept(); });
  await Promise.all([page.waitForURL(/done=destination-skipped/), row.locator("button", { hasText: "Skip batch" }).click()]);
  check(asked.includes("Skip the failed batch"), `asked first: ${asked}`);
  check((await page.locator("body").innerText()).includes("Failed batch skipped"), "the skip said");
});
console.log("dashboard destinations passed");
