// Destinations through the official Svix JavaScript SDK (npm `svix` 2.5.0), unchanged: `destination.create`,
// `list`, `get`, `patch` and `transformation` for a FIFO endpoint and a polling endpoint; messages published through
// the SDK reach the FIFO endpoint (which fails the first batch) in publish order, signed (checked with the SDK's
// own `Webhook`); the polling endpoint is read with `messagePoller.poll`, `consumerPoll` and `consumerSeek`.
//
// usage: node svix_sdk_destinations.mjs BASE_URL TOKEN   (prints SDK DESTINATIONS OK and exits 0 on success)

import assert from "node:assert/strict";
import { Svix, Webhook } from "svix";
import { eventually, startReceiver } from "./sdk_helpers.mjs";

const [BASE, TOKEN] = process.argv.slice(2);
const svix = new Svix(TOKEN, { serverUrl: BASE, numRetries: 0 });

let calls = 0;
const { received, server: receiver, base } = await startReceiver(() => (++calls === 1 ? 500 : 200));

const app = await svix.application.create({ name: "destinations" });
const fifo = await svix.destination.create(app.id, {
  type: "fifoEndpoint",
  uid: "fifo-sdk",
  batchSize: 4,
  eventTypes: ["order.created"],
  config: { url: `${base}/fifo`, headers: { "X-Team": "sdk" } },
});
assert.equal(fifo.type, "fifoEndpoint");
assert.equal(fifo.status, "enabled");
assert.equal(fifo.batchSize, 4);
assert.equal(fifo.config.url, `${base}/fifo`);
assert.ok(fifo.createdAt instanceof Date);
const polling = await svix.destination.create(app.id, { type: "pollingEndpoint", channels: ["eu"] });
assert.equal(polling.type, "pollingEndpoint");

const listed = await svix.destination.list(app.id);
assert.deepEqual(listed.data.map((d) => d.id).sort(), [fifo.id, polling.id].sort());
assert.equal((await svix.destination.get(app.id, "fifo-sdk")).id, fifo.id);
const patched = await svix.destination.patch(app.id, fifo.id, {
  type: "fifoEndpoint",
  config: { url: `${base}/fifo` },
  metadata: { owner: "sdk" },
});
assert.deepEqual(patched.metadata, { owner: "sdk" });
assert.deepEqual(patched.config.headers.headers, { "X-Team": "sdk" }, "a patch keeps the headers it does not name");
const t = await svix.destination.transformation.get(app.id, fifo.id);
assert.equal(t.enabled, false);

// Published through the SDK; the first batch fails and is sent again, in order.
const published = [];
for (let i = 0; i < 10; i++) {
  const m = await svix.message.create(app.id, { eventType: "order.created", payload: { i }, channels: ["eu"] });
  published.push(m.id);
}
const { key } = await (await fetch(`${BASE}/api/v1/app/${app.id}/destination/${fifo.id}/secret`, {
  headers: { authorization: `Bearer ${TOKEN}` },
})).json();
const wh = new Webhook(key);
const taken = await eventually("every message at the FIFO endpoint", () => {
  const ok = received.filter((r) => r.status === 200);
  const ids = ok.flatMap((r) => JSON.parse(r.body).data.map((e) => e.id));
  return ids.length >= published.length ? { ok, ids } : null;
});
assert.deepEqual(taken.ids, published);
assert.equal(received[0].status, 500);
for (const r of received) {
  assert.ok(JSON.parse(r.body).data.length <= 4);
  assert.equal(r.headers["x-team"], "sdk");
  wh.verify(r.body, r.headers);
}
const after = await svix.destination.get(app.id, fifo.id);
assert.equal(after.status, "enabled");
assert.equal(after.currentIterator, "10");

// The polling endpoint: by iterator, then with a consumer kept by the server.
const seen = [];
let iterator = null;
for (;;) {
  const page = await svix.message.poller.poll(app.id, polling.id, { limit: 3, iterator });
  seen.push(...page.data.map((m) => m.id));
  iterator = page.iterator;
  if (page.done) break;
}
assert.deepEqual(seen, published);
const onlyNone = await svix.message.poller.poll(app.id, polling.id, { eventType: "order.deleted" });
assert.equal(onlyNone.data.length, 0);
const first = await svix.message.poller.consumerPoll(app.id, polling.id, "c1", { limit: 6 });
const second = await svix.message.poller.consumerPoll(app.id, polling.id, "c1", { limit: 6 });
assert.deepEqual([...first.data, ...second.data].map((m) => m.id), published);
assert.equal(first.data[0].eventType, "order.created");
assert.deepEqual(first.data[0].payload, { i: 0 });
assert.ok(first.data[0].timestamp instanceof Date);
const seek = await svix.message.poller.consumerSeek(app.id, polling.id, "c1", { after: new Date("2000-01-01T00:00:00Z") });
assert.equal(typeof seek.iterator, "string");
const again = await svix.message.poller.consumerPoll(app.id, polling.id, "c1", { limit: 2 });
assert.deepEqual(again.data.map((m) => m.id), published.slice(0, 2));

await svix.destination.delete(app.id, polling.id);
// Closing waits for open connections, and hookd may be delivering on one (a retry still due): a delivery to a
// server that no longer answers would hold this process up to hookd's request timeout, once per attempt.
receiver.close();
receiver.closeAllConnections();
console.log("SDK DESTINATIONS OK");
