// Drives hookd's operational webhook endpoints with the official Svix JavaScript SDK (npm `svix` 2.5.0),
// unchanged: `svix.operationalWebhook.endpoint` create, get, list, upsert, secret get and rotate, headers, delete;
// then checks that an operational event (`endpoint.created`) arrives signed for the SDK's own `Webhook`.
//
// usage: node operational_webhook_flow.mjs BASE_URL TOKEN   (prints OPS FLOW OK and exits 0 on success)

import assert from "node:assert/strict";
import { Svix, Webhook, ApiException } from "svix";
import { sleep, startReceiver } from "./sdk_helpers.mjs";

const [BASE, TOKEN] = process.argv.slice(2);
const svix = new Svix(TOKEN, { serverUrl: BASE, numRetries: 0 });
const ops = svix.operationalWebhook.endpoint;

// A loopback receiver that keeps every request.
const { received, server: receiver, base } = await startReceiver();
const url = `${base}/ops`;

// ── CRUD ──
const created = await ops.create({
  url,
  description: "pager",
  uid: "pager",
  eventTypes: ["endpoint.created", "endpoint.deleted"],
  metadata: { team: "sre" },
  headers: { "X-Team": "sre" },
});
assert.ok(created.id.startsWith("ep_"), created.id);
assert.equal(created.uid, "pager");
assert.deepEqual(created.eventTypes, ["endpoint.created", "endpoint.deleted"]);
assert.deepEqual(created.metadata, { team: "sre" });
assert.ok(created.createdAt instanceof Date && !isNaN(created.createdAt));

assert.equal((await ops.get("pager")).id, created.id, "by uid");
const list = await ops.list({ limit: 10 });
assert.deepEqual(
  list.data.map((e) => e.id),
  [created.id]
);
assert.equal(list.done, true);

const updated = await ops.upsert(created.id, {
  url,
  description: "pager, updated",
  eventTypes: ["endpoint.created", "endpoint.deleted"],
});
assert.equal(updated.description, "pager, updated");
const second = await ops.upsert("second", { url, disabled: true });
assert.equal(second.uid, "second");
assert.equal(second.disabled, true);
assert.equal((await ops.list({ limit: 1 })).data.length, 1);
assert.equal((await ops.list({ limit: 10 })).data.length, 2);

// ── secret and headers ──
const { key: secret } = await ops.getSecret(created.id);
assert.ok(secret.startsWith("whsec_"), secret);
await ops.rotateSecret(created.id, { gracePeriodSeconds: 0 });
const { key: rotated } = await ops.getSecret(created.id);
assert.notEqual(rotated, secret);
const mine = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
await ops.rotateSecret(created.id, { key: mine, gracePeriodSeconds: 0 });
assert.equal((await ops.getSecret(created.id)).key, mine);

assert.deepEqual((await ops.getHeaders(created.id)).headers, { "X-Team": "sre" });
await ops.setHeaders(created.id, { headers: { "X-Team": "platform", Authorization: "Bearer x" } });
const headers = await ops.getHeaders(created.id);
assert.deepEqual(headers.headers, { "X-Team": "platform" });
assert.deepEqual(headers.sensitive, ["Authorization"]);

// ── an event, verified with the SDK's Webhook ──
const app = await svix.application.create({ name: "shop" });
const ep = await svix.endpoint.create(app.id, { url: `http://127.0.0.1:${receiver.address().port}/app` });
const deadline = Date.now() + 20_000;
while (!received.some((r) => JSON.parse(r.body).type === "endpoint.created")) {
  assert.ok(Date.now() < deadline, "timed out waiting for endpoint.created");
  await sleep(50);
}
const got = received.find((r) => JSON.parse(r.body).type === "endpoint.created");
new Webhook(mine).verify(got.body, got.headers); // throws unless the signature holds
assert.deepEqual(JSON.parse(got.body), {
  type: "endpoint.created",
  data: { appId: app.id, appUid: null, endpointId: ep.id, endpointUid: null },
});
assert.equal(got.headers["x-team"], "platform", "the operational endpoint's headers are sent");
assert.throws(() => new Webhook(secret).verify(got.body, got.headers), "the rotated-out key no longer signs");

// ── delete ──
await ops.delete(second.id);
await ops.delete(created.id);
await assert.rejects(ops.get(created.id), (e) => e instanceof ApiException && e.code === 404);
assert.equal((await ops.list({})).data.length, 0);

// Closing waits for open connections, and hookd may be delivering on one (a retry still due): a delivery to a
// server that no longer answers would hold this process up to hookd's request timeout, once per attempt.
receiver.close();
receiver.closeAllConnections();
console.log("OPS FLOW OK");
