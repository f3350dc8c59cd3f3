// Drives Debian's Chromium through the dashboard's application forms: create one (a refused try first, its
// messages beside the fields and what was typed kept), edit it, and delete it after saying no once to the
// question. Then an unknown id's page. Input (JSON on stdin): base, token, screenshots (a folder, or null).
import { check, inBrowser, logIn, readInput } from "./browser.mjs";

const { base, token, screenshots } = await readInput();

await inBrowser({ screenshots, failedLoadsAllowed: true }, async ({ page, shot }) => {
  await logIn(page, base, token);
  await Promise.all([page.waitForURL("**/ui/apps"), page.locator("nav a", { hasText: "Applications" }).click()]);
  await Promise.all([page.waitForURL("**/ui/apps/new"), page.locator("a", { hasText: "New application" }).click()]);
  check(await page.locator("label[for=f-name]").innerText() === "Name", "the name field has a label");

  // A refused form: a blank name, a uid with a space, a rate limit that is not a number.
  await page.fill("#f-uid", "acme corp");
  await page.fill("#f-rateLimit", "lots");
  await page.fill("#f-metadata", "plan=pro\nregion=eu");
  await Promise.all([page.waitForURL("**/ui/apps/new"), page.locator("#app-form button[type=submit]").click()]);
  check(await page.locator("#err-rateLimit").innerText() === "Enter a whole number.", "the rate limit's message beside it");
  check(await page.locator("#f-uid").inputValue() === "acme corp", "the uid as typed kept");
  check(await page.locator("#f-metadata").inputValue() === "plan=pro\nregion=eu", "the metadata as typed kept");
  check(await page.locator("#f-rateLimit").getAttribute("aria-invalid") === "true", "the rate limit marked invalid");
  check(await page.locator("header nav a", { hasText: "Applications" }).getAttribute("aria-current") === "page",
    "the navigation in place, Applications current");
  await shot("app-form-refused-locally");

  // The API's own refusals, beside their fields: the blank name, then the uid.
  await page.fill("#f-rateLimit", "20");
  await Promise.all([page.waitForURL("**/ui/apps/new"), page.locator("#app-form button[type=submit]").click()]);
  const nameError = await page.locator("#err-name").innerText();
  check(nameError.includes("must not be empty"), `the name's message beside it (${nameError})`);
  check((await page.locator("#form-errors").innerText()).includes("see the fields marked"), "a summary above the form");
  check(await page.locator("#f-rateLimit").inputValue() === "20", "the rate limit as typed kept");
  await page.fill("#f-name", "Acme Corp");
  await Promise.all([page.waitForURL("**/ui/apps/new"), page.locator("#app-form button[type=submit]").click()]);
  const uidError = await page.locator("#err-uid").innerText();
  check(uidError.length > 0 && await page.locator("#err-name").count() === 0, `now the uid's message alone (${uidError})`);
  await shot("app-form-refused");

  await page.fill("#f-name", "Acme Corp");
  await page.fill("#f-uid", "acme-corp");
  await Promise.all([page.waitForURL(/\/ui\/apps\/app_[^/]+\?done=app-created/), page.locator("#app-form button[type=submit]").click()]);
  const appId = page.url().match(/\/ui\/apps\/(app_[^/?]+)/)[1];
  check(await page.locator("h1").innerText().then((t) => t.startsWith("Acme Corp")), "the new application's page");
  check((await page.locator("#flash").innerText()).includes("Application created"), "a flash saying it was created");
  await shot("app-created");

  // Edit: the form holds what is stored; a change is saved.
  await Promise.all([page.waitForURL(`**/ui/apps/${appId}/edit`), page.locator(".page-actions a", { hasText: "Edit" }).click()]);
  check(await page.locator("#f-name").inputValue() === "Acme Corp", "the edit form holds the name");
  check(await page.locator("#f-rateLimit").inputValue() === "20", "the edit form holds the rate limit");
  check((await page.locator("#f-metadata").inputValue()).split("\n").sort().join(",") === "plan=pro,region=eu", "the edit form holds the metadata");
  await page.fill("#f-name", "Acme Corporation");
  await page.fill("#f-rateLimit", "");
  await Promise.all([page.waitForURL(/done=app-saved/), page.locator("#app-form button[type=submit]").click()]);
  check(await page.locator("h1").innerText().then((t) => t.startsWith("Acme Corporation")), "the new name shown");
  console.log(`app: ${appId}`);

  // Delete asks first: "no" keeps it, "yes" deletes it.
  let asked = "";
  page.once("dialog", (d) => { asked = d.message(); d.dismiss(); });
  await page.locator(".page-actions button", { hasText: "Delete application" }).click();
  check(asked.includes("Delete the application Acme Corporation"), `the question asked (${asked})`);
  check(page.url().includes(`/ui/apps/${appId}`), "still on the application after saying no");
  page.once("dialog", (d) => d.accept());
  await Promise.all([page.waitForURL(/\/ui\/apps\?done=app-deleted/), page.locator(".page-actions button", { hasText: "Delete application" }).click()]);
  check((await page.locator("#flash").innerText()).includes("Application deleted"), "a flash saying it was deleted");
  check(await page.locator(`a[href="/ui/apps/${appId}"]`).count() === 0, "no longer listed");
  await shot("app-deleted");

  // Its page now: a 404 with the navigation and what was not found.
  const resp = await page.goto(`${base}/ui/apps/${appId}`);
  check(resp.status() === 404, "its page answers 404");
  check((await page.locator("#error-detail").innerText()).includes(`application \`${appId}\` not found`), "the page says what was not found");
  check(await page.locator("header nav a", { hasText: "Applications" }).isVisible(), "the navigation on the 404 page");
  await shot("app-not-found");
});
console.log("app forms flow passed");
