// Drives the rest of hookd's Svix routes with the official Svix JavaScript SDK (npm `svix` 2.5.0), unchanged:
// every create / get / update / upsert / patch / delete of applications, event types and endpoints, an endpoint's
// secret, headers, stats and send-example, messages and their attempts, resend and expunge, and health. (The
// listings are in svix_sdk_flow.mjs, replays and background tasks in svix_sdk_replay.mjs, operational webhook
// endpoints in operational_webhook_flow.mjs.) What the receiver gets is verified with the SDK's own `Webhook`.
//
// usage: node svix_sdk_routes.mjs BASE_URL TOKEN   (prints SDK ROUTES OK and exits 0 on success)

import assert from "node:assert/strict";
import { Svix, Webhook } from "svix";
import { eventually, startReceiver } from "./sdk_helpers.mjs";

const [BASE, TOKEN] = process.argv.slice(2);
const svix = new Svix(TOKEN, { serverUrl: BASE, numRetries: 0 });

// A loopback receiver that keeps what it is sent.
const { received, server: receiver, base } = await startReceiver();
const url = `${base}/hook`;

/** The SDK's error for a call that must fail, with its status code. */
async function failsWith(status, call) {
  await assert.rejects(call, (e) => e.code === status, `expected ${status}`);
}

await svix.health.get();

// ── applications ──
const app = await svix.application.create({ name: "Routes", uid: "routes-app" });
assert.equal((await svix.application.get("routes-app")).id, app.id, "get by uid");
assert.equal((await svix.application.patch(app.id, { name: "Routes 2" })).name, "Routes 2");
const same = await svix.application.getOrCreate({ name: "ignored", uid: "routes-app" });
assert.equal(same.id, app.id, "getOrCreate finds the existing one");
const upserted = await svix.application.upsert("routes-other", { name: "Other" });
assert.equal(upserted.uid, "routes-other", "upsert creates by uid");
assert.equal((await svix.application.upsert("routes-other", { name: "Other 2" })).name, "Other 2");
await svix.application.delete(upserted.id);
await failsWith(404, () => svix.application.get(upserted.id));

// ── event types ──
await svix.eventType.create({ name: "invoice.paid", description: "An invoice was paid" });
assert.equal((await svix.eventType.get("invoice.paid")).description, "An invoice was paid");
assert.equal((await svix.eventType.patch("invoice.paid", { description: "Paid" })).description, "Paid");
assert.equal((await svix.eventType.upsert("invoice.voided", { description: "Voided" })).name, "invoice.voided");
await svix.eventType.delete("invoice.voided");
assert.equal((await svix.eventType.get("invoice.voided")).archived, true, "delete archives");

// ── endpoints ──
const ep = await svix.endpoint.create(app.id, { url, uid: "routes-ep", description: "first" });
assert.equal((await svix.endpoint.get(app.id, "routes-ep")).id, ep.id);
assert.equal((await svix.endpoint.patch(app.id, ep.id, { description: "patched" })).description, "patched");
const up = await svix.endpoint.upsert(app.id, ep.id, { url, description: "upserted", uid: "routes-ep" });
assert.equal(up.description, "upserted");
const { key: firstKey } = await svix.endpoint.getSecret(app.id, ep.id);
assert.match(firstKey, /^whsec_/);
await svix.endpoint.rotateSecret(app.id, ep.id, {});
const { key } = await svix.endpoint.getSecret(app.id, ep.id);
assert.notEqual(key, firstKey, "rotated");
await svix.endpoint.setHeaders(app.id, ep.id, { headers: { "X-Tenant": "acme" } });
await svix.endpoint.patchHeaders(app.id, ep.id, { headers: { "X-Region": "eu" } });
assert.deepEqual((await svix.endpoint.getHeaders(app.id, ep.id)).headers, { "X-Tenant": "acme", "X-Region": "eu" });
await failsWith(422, () => svix.endpoint.create(app.id, { url: "not a url" }));

// ── messages, attempts, resend, expunge ──
const msg = await svix.message.create(app.id, { eventType: "invoice.paid", payload: { invoice: "in_1" } });
assert.deepEqual((await svix.message.get(app.id, msg.id, { withContent: true })).payload, { invoice: "in_1" });
assert.deepEqual((await svix.message.get(app.id, msg.id)).payload, {}, "the SDK asks without content by default");
await eventually("the message to arrive", () => received.find((r) => r.headers["svix-id"] === msg.id));
const first = received.find((r) => r.headers["svix-id"] === msg.id);
new Webhook(key).verify(first.body, first.headers); // throws unless signed with the endpoint's secret
new Webhook(firstKey).verify(first.body, first.headers); // and, for a day's grace, with the rotated-out one
assert.deepEqual(JSON.parse(first.body), { invoice: "in_1" });
assert.equal(first.headers["x-tenant"], "acme", "the endpoint's headers are sent");

const attempts = await eventually("the attempt to be recorded", async () => {
  const a = await svix.messageAttempt.listByMsg(app.id, msg.id);
  return a.data.length === 1 ? a.data : null;
});
const attempt = await svix.messageAttempt.get(app.id, msg.id, attempts[0].id);
assert.equal(attempt.responseStatusCode, 200);
assert.equal(attempt.response, "ok");
await svix.messageAttempt.resend(app.id, msg.id, ep.id);
await eventually("the resend to arrive", () => received.filter((r) => r.headers["svix-id"] === msg.id).length === 2);
await svix.messageAttempt.expungeContent(app.id, msg.id, attempt.id);
assert.equal((await svix.messageAttempt.get(app.id, msg.id, attempt.id)).response, "", "response expunged");
await svix.message.expungeContent(app.id, msg.id);
assert.deepEqual((await svix.message.get(app.id, msg.id, { withContent: true })).payload, {}, "payload expunged");

const example = await svix.endpoint.sendExample(app.id, ep.id, { eventType: "invoice.paid" });
await eventually("the example to arrive", () => received.find((r) => r.headers["svix-id"] === example.id));
const stats = await eventually("the stats to count the deliveries", async () => {
  const s = await svix.endpoint.getStats(app.id, ep.id);
  return s.success >= 2 ? s : null;
});
assert.equal(stats.fail, 0);

await svix.endpoint.delete(app.id, ep.id);
await failsWith(404, () => svix.endpoint.get(app.id, ep.id));
await svix.application.delete(app.id);

// Closing waits for open connections, and hookd may be delivering on one (a retry still due): a delivery to a
// server that no longer answers would hold this process up to hookd's request timeout, once per attempt.
receiver.close();
receiver.closeAllConnections();
console.log("SDK ROUTES OK");
