// Endpoint transformations through the official Svix JavaScript SDK (npm `svix` 2.5.0), unchanged: the deprecated
// `endpoint.transformationPartialUpdate` and the current `endpoint.transformation.get/patch` set code that changes
// the payload, the URL and the method, uses variables, or cancels; a throwing one is a failed attempt that says
// why. The receiver validates as Slack's incoming webhooks do (400 `invalid_payload` without `text` or `blocks`),
// and every request it accepts is verified with the SDK's own `Webhook`.
//
// usage: node svix_sdk_transform.mjs BASE_URL TOKEN   (prints SDK TRANSFORM OK and exits 0 on success)

import assert from "node:assert/strict";
import { Svix, Webhook } from "svix";
import { eventually, startReceiver } from "./sdk_helpers.mjs";

const [BASE, TOKEN] = process.argv.slice(2);
const svix = new Svix(TOKEN, { serverUrl: BASE, numRetries: 0 });

// Paths under /services/ answer as Slack's incoming webhooks do.
const { received, server: receiver, base } = await startReceiver((req, body) => {
  let json = null;
  try {
    json = JSON.parse(body);
  } catch {}
  const slackShaped = json && (typeof json.text === "string" || Array.isArray(json.blocks));
  return req.url.startsWith("/services/") && !slackShaped ? [400, "invalid_payload"] : 200;
});

const app = await svix.application.create({ name: "transformations" });
const ep = await svix.endpoint.create(app.id, { url: `${base}/original` });
const { key } = await svix.endpoint.getSecret(app.id, ep.id);
const wh = new Webhook(key);

// Nothing set yet.
const empty = await svix.endpoint.transformation.get(app.id, ep.id);
assert.equal(empty.enabled, false);
assert.equal(empty.code ?? null, null);

// 1. The deprecated call: a new path on the same host, PUT, and a Slack message made from the payload.
await svix.endpoint.transformationPartialUpdate(app.id, ep.id, {
  enabled: true,
  code: `function handler(webhook) {
    webhook.method = "PUT";
    webhook.url = webhook.url.replace("/original", "/services/T0/B0/X");
    webhook.payload = { text: "Invoice " + webhook.payload.id + " paid (" + webhook.eventType + ")" };
    return webhook;
  }`,
});
const t1 = await svix.endpoint.transformation.get(app.id, ep.id);
assert.equal(t1.enabled, true);
assert.match(t1.code, /function handler/);
assert.ok(t1.updatedAt instanceof Date);

const m1 = await svix.message.create(app.id, { eventType: "invoice.paid", payload: { id: 42 } });
const got1 = await eventually("the transformed request", () => received.find((r) => r.status === 200));
assert.equal(got1.method, "PUT");
assert.equal(got1.path, "/services/T0/B0/X");
assert.deepEqual(JSON.parse(got1.body), { text: "Invoice 42 paid (invoice.paid)" });
wh.verify(got1.body, got1.headers); // throws unless signed, over what was sent, with the endpoint's secret
const a1 = await eventually("its attempt", async () => (await svix.messageAttempt.listByMsg(app.id, m1.id)).data[0]);
assert.equal(a1.url, `${base}/services/T0/B0/X`);
assert.equal(a1.responseStatusCode, 200);

// 2. The current call: variables, and cancelling.
await svix.endpoint.transformation.patch(app.id, ep.id, {
  code: `function handler(webhook) {
    if (webhook.payload.internal) { webhook.cancel = true; return webhook; }
    webhook.url = webhook.url.replace("/original", "/services/T0/B0/Y");
    webhook.payload = { text: variables.prefix + webhook.payload.id, channel: variables.channel };
    return webhook;
  }`,
  variables: { prefix: "Order #", channel: "#sales" },
});
const t2 = await svix.endpoint.transformation.get(app.id, ep.id);
assert.deepEqual(t2.variables, { prefix: "Order #", channel: "#sales" });
assert.equal(t2.enabled, true, "still enabled");
const skipped = await svix.message.create(app.id, { eventType: "order.created", payload: { id: 1, internal: true } });
await svix.message.create(app.id, { eventType: "order.created", payload: { id: 2 } });
const got2 = await eventually("the second shape", () => received.find((r) => r.path === "/services/T0/B0/Y"));
assert.equal(got2.method, "POST");
assert.deepEqual(JSON.parse(got2.body), { text: "Order #2", channel: "#sales" });
wh.verify(got2.body, got2.headers);
const cancelled = await eventually("the cancelled attempt", async () =>
  (await svix.messageAttempt.listByMsg(app.id, skipped.id)).data[0]);
assert.equal(cancelled.status, 4, "canceled");
assert.equal(received.filter((r) => r.body.includes('"internal"')).length, 0);

// 3. Without the transformation Slack refuses the raw payload: that is what it is for.
await svix.endpoint.transformation.patch(app.id, ep.id, { enabled: false });
await svix.endpoint.patch(app.id, ep.id, { url: `${base}/services/T0/B0/Z` });
const raw = await svix.message.create(app.id, { eventType: "order.created", payload: { id: 3 } });
const refused = await eventually("the refused attempt", async () =>
  (await svix.messageAttempt.listByMsg(app.id, raw.id)).data.find((a) => a.responseStatusCode === 400));
assert.equal(refused.response, "invalid_payload");

// 4. A throwing transformation is a failed attempt that says why; nothing is sent.
await svix.endpoint.transformation.patch(app.id, ep.id, {
  enabled: true,
  code: "function handler(webhook) { return webhook.payload.missing.field; }",
});
const before = received.length;
const boom = await svix.message.create(app.id, { eventType: "order.created", payload: { id: 4 } });
// The first attempt and both retries (100 ms, 200 ms in tests) fail the same way.
const failed = await eventually("the failed attempts", async () => {
  const attempts = (await svix.messageAttempt.listByMsg(app.id, boom.id)).data;
  return attempts.length === 3 && attempts.every((a) => a.status === 2) && attempts;
});
for (const a of failed) {
  assert.equal(a.responseStatusCode, 0);
  assert.match(a.response, /transformation failed: TypeError/);
}
assert.equal(received.length, before, "nothing was sent");

// 5. Clearing the code leaves the transformation without effect.
await svix.endpoint.transformation.patch(app.id, ep.id, { code: null, variables: null });
const t5 = await svix.endpoint.transformation.get(app.id, ep.id);
assert.equal(t5.code ?? null, null);

// Closing waits for open connections, and hookd may be delivering on one (a retry still due): a delivery to a
// server that no longer answers would hold this process up to hookd's request timeout, once per attempt.
receiver.close();
receiver.closeAllConnections();
console.log("SDK TRANSFORM OK");
