// Drives Debian's Chromium through hookd's dashboard, as a person would: log in, follow links from the overview to
// a failed delivery, read its status and response body, resend it and see the new attempt, make a read-only
// portal link and open it, check that another organization's application is not found, log out. Input (JSON on stdin): base, token, appId, endpointId,
// msgId, otherAppId, and screenshots (a folder to save the main screens in, or null).
import { check, inBrowser, readInput } from "./browser.mjs";

const input = await readInput();
const { base, token, appId, endpointId, msgId, otherAppId, screenshots } = input;

await inBrowser({ screenshots, failedLoadsAllowed: true }, async ({ page, context, shot }) => {

  // Not logged in: the dashboard sends the browser to the login form, whose token field is a password field.
  await page.goto(`${base}/ui/`);
  check(page.url() === `${base}/ui/login`, "the login page when not logged in");
  check(await page.getAttribute("#token", "type") === "password", "a password field for the token");
  await shot("login");
  await page.fill("#token", "hk_wrong");
  await page.click("button[type=submit]");
  check(await page.locator(".error").innerText().then((t) => t.includes("not valid")), "an error for a wrong token");
  await page.fill("#token", token);
  await Promise.all([page.waitForURL(`${base}/ui/`), page.click("button[type=submit]")]);
  check(await page.locator("h1").innerText() === "Overview", "the overview after logging in");
  const cookies = await context.cookies();
  const session = cookies.find((c) => c.name === "hookd_session");
  check(session && session.httpOnly && session.sameSite === "Strict", "an HttpOnly, SameSite=Strict session cookie");

  // Overview → the failing endpoint → its failed attempt.
  const failing = page.locator(`#failing a[href="/ui/apps/${appId}/endpoints/${endpointId}"]`);
  await Promise.all([page.waitForURL(`**/endpoints/${endpointId}`), failing.click()]);
  const failedRow = page.locator("tr.attempt.fail").first();
  check(await failedRow.locator(".status-code").innerText() === "500", "status 500 on the endpoint's page");
  check((await failedRow.locator("pre.response").innerText()).includes("receiver says no: database is down"),
    "the receiver's response body on the endpoint's page");

  // → the message: payload pretty-printed, every attempt with its status and body.
  await Promise.all([page.waitForURL(`**/messages/${msgId}`), failedRow.locator(`a[href$="/messages/${msgId}"]`).click()]);
  const payload = await page.locator("#payload").innerText();
  check(payload.includes('\n  "orderId": "ord_1042"'), "the payload pretty-printed");
  check(payload.indexOf('"total"') < payload.indexOf('"customer"'), "the payload's keys in the order sent");
  check(await page.locator("tr.attempt.fail").count() === 3, "three failed attempts");
  check(await page.locator("tr.attempt.fail .status-code").first().innerText() === "500", "status 500 on the message's page");
  check((await page.locator("tr.attempt.fail pre.response").first().innerText()).includes("database is down"),
    "the response body on the message's page");
  check(await page.locator("#deliveries .badge").first().innerText() === "failed", "the delivery shown as failed");

  // Resend: the new attempt appears (the page refreshes itself while the delivery is under way).
  await Promise.all([page.waitForURL(/resent=/), page.locator("#deliveries button", { hasText: "Resend" }).click()]);
  const okRow = page.locator("tr.attempt.ok");
  await okRow.first().waitFor();
  check(await okRow.first().locator(".status-code").innerText() === "200", "the resent attempt's status 200");
  check((await okRow.first().locator("pre.response").innerText()).includes("thanks, got it"), "the resent attempt's body");
  check(await okRow.first().innerText().then((t) => t.includes("manual")), "the resent attempt marked manual");
  await page.goto(`${base}/ui/apps/${appId}/messages/${msgId}`);
  check(await page.locator("#deliveries .badge").first().innerText() === "succeeded", "the delivery now succeeded");
  await shot("message");

  // Every screen has its own URL, reached by links: the application's page and the list of applications.
  await Promise.all([page.waitForURL(`**/ui/apps/${appId}`), page.locator(".crumbs a", { hasText: "Storefront" }).click()]);
  check(await page.locator("#endpoints a", { hasText: "/hooks/orders" }).count() === 1, "the endpoint on the application's page");
  check(await page.locator(`#messages a[href$="/messages/${msgId}"]`).count() === 1, "the message in the application's list");
  await shot("application");

  // A read-only portal link for the application's customer, shown once; it opens the portal on that application.
  await page.selectOption("#access", "read");
  await Promise.all([page.waitForURL(`**/ui/apps/${appId}/portal-link`), page.locator("#portal button[type=submit]").click()]);
  const link = await page.inputValue("#portal-url");
  check(link.startsWith(`${base}/portal/#key=appsk_`), "a portal link");
  check(await page.getAttribute("#open-portal", "href") === link, "a way to open it");
  await shot("portal-link");
  const portal = await context.newPage();
  await portal.goto(link);
  await portal.locator("#endpoints").waitFor();
  check(await portal.locator("#app-name").innerText() === "Storefront", "the portal on the application");
  check(await portal.locator("#add-endpoint").count() === 0, "read-only: no Add endpoint");
  await portal.close();
  await page.goBack();

  await Promise.all([page.waitForURL(`${base}/ui/apps`), page.locator("nav a", { hasText: "Applications" }).click()]);
  check(await page.locator("td a", { hasText: "Storefront" }).count() === 1, "the application in the list");
  await shot("applications");

  // Another organization's application is not found, even by its id.
  const theirs = await page.goto(`${base}/ui/apps/${otherAppId}`);
  check(theirs.status() === 404, "404 for another organization's application");
  check((await page.locator("h1").innerText()).includes("Not Found"), "a not-found page");

  // Log out: back to the login form, and the dashboard needs logging in again.
  await page.goto(`${base}/ui/`);
  await Promise.all([page.waitForURL(`${base}/ui/login`), page.locator("button", { hasText: "Log out" }).click()]);
  await page.goto(`${base}/ui/apps`);
  check(page.url() === `${base}/ui/login`, "logged out");
});
console.log("dashboard flow passed");
