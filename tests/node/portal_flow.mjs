// Drives Debian's Chromium through hookd's app portal as a SaaS's customer would: the official Svix SDK (npm
// `svix`, unchanged) makes a portal link; the browser opens it, sees only that application's endpoints, opens an
// endpoint's failed attempt, resends the message and sees the new attempt, adds, disables and deletes an
// endpoint, and is refused another application's endpoint. Then the portal inside an iframe of a page on another
// site (localhost framing 127.0.0.1), logout, and expire-all. Input (JSON on stdin): base, token, appId,
// endpointId, msgId, otherAppId, otherEndpointId, and screenshots (a folder, or null).
import http from "node:http";
import { check, inBrowser, readInput } from "./browser.mjs";
import { Svix } from "svix";

const input = await readInput();
const { base, token, appId, endpointId, msgId, otherAppId, otherEndpointId, screenshots } = input;

const svix = new Svix(token, { serverUrl: base, numRetries: 0 });
const link = await svix.authentication.appPortalAccess(appId, { sessionId: "browser" });
check(link.url === `${base}/portal/#key=${link.token}` && link.token.startsWith("appsk_"), "a portal link from the SDK");

// The customer's product: a page on another site (localhost, not 127.0.0.1) that frames the portal.
let framed = null;
const product = http.createServer((req, res) => {
  res.writeHead(200, { "content-type": "text/html; charset=utf-8" }).end(`<!doctype html><html><head><title>Acme</title>
<style>body{font-family:system-ui,sans-serif;margin:0;background:#eef2ff}header{padding:1rem 2rem;background:#312e81;color:#fff;font-weight:700}
main{padding:1.5rem 2rem}iframe{width:100%;height:640px;border:1px solid #c7d2fe;border-radius:8px;background:#fff}</style></head>
<body><header>Acme Store · Settings</header><main><h2>Webhooks</h2><iframe id="portal" src="${framed}"></iframe></main></body></html>`);
});
await new Promise((r) => product.listen(0, "127.0.0.1", r));
const productUrl = `http://localhost:${product.address().port}/settings/webhooks`;

await inBrowser({ screenshots, failedLoadsAllowed: true }, async ({ page, context, watch, shot }) => {
  page.on("dialog", (d) => d.accept());

  // The link opens the application's endpoints; the token leaves the address bar.
  const opened = await page.goto(link.url);
  check(opened.headers()["x-frame-options"] === undefined, "no X-Frame-Options on the portal");
  check(opened.headers()["content-security-policy"].includes("frame-ancestors *"), "the portal may be framed");
  await page.locator("#endpoints").waitFor();
  check(!page.url().includes("appsk_") && page.url().endsWith("/portal/#/"), "the token out of the address bar");
  check(await page.locator("#app-name").innerText() === "Acme Corp", "the application's name");
  const rows = page.locator("#endpoints tbody tr");
  check(await rows.count() === 2, "the application's two endpoints");
  check(await page.locator("#endpoints").innerText().then((t) => !t.includes("globex")), "no other application's endpoint");
  check(await page.locator("#add-endpoint").count() === 1, "Add endpoint (ManageEndpoint)");
  const failing = page.locator(`#endpoints tr[data-endpoint="${endpointId}"]`);
  check(await failing.locator(".state .badge").innerText() === "failing", "the endpoint whose attempts fail reads failing");
  check(await failing.locator(".success").innerText() === "0% of the last 3 attempts", "with its success rate");
  await shot("portal-endpoints");

  // → the endpoint: its failed attempt with the receiver's status and body; its secret.
  await Promise.all([page.waitForURL(`**/portal/#/endpoints/${endpointId}`),
    page.locator(`#endpoints a[href="#/endpoints/${endpointId}"]`).click()]);
  const failed = page.locator("tr.attempt.fail").first();
  await failed.waitFor();
  check(await failed.locator(".status-code").innerText() === "503", "status 503 on the endpoint's page");
  check((await failed.locator("pre.response").innerText()).includes("maintenance window"), "the receiver's response body");
  check(await page.locator("tr.attempt.fail").count() === 3, "three failed attempts");
  await page.locator("#reveal").click();
  check((await page.locator("#secret code").innerText()).startsWith("whsec_"), "the signing secret (ViewEndpointSecret)");
  await shot("portal-endpoint");

  // → the message: payload, deliveries; Resend, and the new attempt appears by itself.
  await Promise.all([page.waitForURL(`**/#/messages/${msgId}`), failed.locator(`a[href="#/messages/${msgId}"]`).click()]);
  check((await page.locator("#payload").innerText()).includes('"orderId": "ord_1042"'), "the payload");
  const failedDelivery = page.locator("#deliveries tbody tr", { hasText: "failed" });
  check(await failedDelivery.count() === 1, "the failed delivery");
  await failedDelivery.locator("button.resend").click();
  await page.locator(".notice", { hasText: "Resend queued" }).waitFor();
  const resent = page.locator("tr.attempt.ok", { hasText: "manual" });
  await resent.first().waitFor();
  check(await resent.first().locator(".status-code").innerText() === "200", "the resent attempt's status 200");
  check((await resent.first().locator("pre.response").innerText()).includes("accepted, thank you"), "its response body");
  await page.locator("#deliveries tbody tr", { hasText: "failed" }).waitFor({ state: "detached" });
  await shot("portal-message");

  // Add an endpoint, disable it, delete it.
  await page.locator("nav a", { hasText: "Endpoints" }).click();
  await page.locator("#add-endpoint").click();
  await page.fill("#url", "https://hooks.acme.example/new");
  await page.fill("#event-types", "invoice.paid, invoice.voided");
  await Promise.all([page.waitForURL(/#\/endpoints\/ep_/), page.locator("button[type=submit]").click()]);
  await page.locator("h1", { hasText: "https://hooks.acme.example/new" }).waitFor();
  await page.locator("#toggle").click();
  await page.locator("#state .badge", { hasText: "disabled" }).waitFor();
  check(true, "an endpoint added and disabled");
  await Promise.all([page.waitForURL("**/portal/#/"), page.locator("#delete").click()]);
  await page.locator("#endpoints").waitFor();
  check(await page.locator("#endpoints tbody tr").count() === 2, "the endpoint deleted");

  // Messages: the list, filtered by event type, and found by id.
  await page.locator("nav a", { hasText: "Messages" }).click();
  await page.locator("#messages").waitFor();
  check(await page.locator("#messages tbody tr").count() === 3, "the application's three messages");
  await page.fill("input[name=event_type]", "order.created");
  await Promise.all([page.waitForURL(/event_type=order.created/), page.locator("#search button").click()]);
  // The list is drawn again once the search answers: wait for it rather than read the previous one.
  await page.waitForFunction(() => {
    const rows = [...document.querySelectorAll("#messages tbody tr")];
    return rows.length === 1 && rows[0].innerText.includes("order.created");
  });
  check(true, "one message of type order.created");
  await page.fill("input[name=q]", msgId);
  await Promise.all([page.waitForURL(`**/#/messages/${msgId}`), page.locator("#search button").click()]);
  await page.locator("#payload").waitFor();
  check(true, "a message found by its id");

  // Another application is refused, by page and by API, and the operator dashboard is not reachable.
  await page.goto(`${base}/portal/#/endpoints/${otherEndpointId}`);
  await page.locator("#refused").waitFor();
  check(await page.locator("#refused h1").innerText() === "Not found", "another application's endpoint not found");
  const [status, body] = await page.evaluate(async (other) => {
    const t = sessionStorage.getItem("hookd_portal_token");
    const r = await fetch(`/api/v1/app/${other}/endpoint`, { headers: { authorization: `Bearer ${t}` } });
    return [r.status, await r.json()];
  }, otherAppId);
  check(status === 404 && body.code === "not_found", "another application's API refused (404)");
  await page.goto(`${base}/ui/apps/${otherAppId}`);
  check(page.url() === `${base}/ui/login`, "the dashboard asks for a login");

  // In an iframe of the customer's product on another site, with a read-only link.
  const viewOnly = await svix.authentication.appPortalAccess(appId, { capabilities: ["ViewBase"], sessionId: "framed" });
  framed = viewOnly.url;
  const dashboard = await fetch(`${base}/ui/login`);
  check(dashboard.headers.get("x-frame-options") === "DENY", "the operator dashboard still refuses framing");
  const host = await context.newPage();
  watch(host);
  await host.goto(productUrl);
  const frame = host.frameLocator("#portal");
  await frame.locator("#endpoints").waitFor();
  check(await frame.locator("#app-name").innerText() === "Acme Corp", "the portal inside the iframe");
  check(await frame.locator("#add-endpoint").count() === 0, "no Add endpoint for a ViewBase token");
  await frame.locator(`#endpoints a[href="#/endpoints/${endpointId}"]`).click();
  await frame.locator("tr.attempt.ok", { hasText: "manual" }).first().waitFor();
  check(await frame.locator("#reveal").count() === 0 && await frame.locator("#toggle").count() === 0,
    "no secret and no changes for a ViewBase token");
  await shot("portal-iframe", host);

  // Logout from the portal ends its token; the SDK's own logout ends another one.
  await page.goto(`${base}/portal/`);
  await page.locator("#endpoints").waitFor();
  await page.locator("#logout").click();
  await page.locator("#ended", { hasText: "logged out" }).waitFor();
  const statusWith = async (t) => {
    try {
      await new Svix(t, { serverUrl: base, numRetries: 0 }).endpoint.list(appId);
      return 200;
    } catch (e) {
      return e.code;
    }
  };
  check(await statusWith(link.token) === 401, "the logged-out token refused");
  const another = await svix.authentication.appPortalAccess(appId, {});
  check(await statusWith(another.token) === 200, "a fresh token works");
  await new Svix(another.token, { serverUrl: base, numRetries: 0 }).authentication.logout();
  check(await statusWith(another.token) === 401, "the SDK's logout");

  // expire-all (the SDK's) ends the framed portal's token too.
  await svix.authentication.expireAll(appId, {});
  await host.reload();
  await host.frameLocator("#portal").locator("#ended", { hasText: "expired or was revoked" }).waitFor();
  check(true, "the framed portal after expire-all");
}).finally(() => product.close());
console.log("portal flow passed");
