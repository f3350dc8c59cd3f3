// The event catalog and payload filters through the official Svix JavaScript SDK (npm `svix` 2.5.0), unchanged:
// an event type created with `schemas`, `groupName` and `featureFlags` keeps them through get, list, upsert and
// patch; `eventType.importOpenapi` (dry run, then for real) creates a document's webhooks with their schemas; and
// messages published through the SDK reach an endpoint whose payload filter (set with a plain PATCH: the SDK's
// `EndpointIn` has no such field) matches them, and no others. Each delivery is verified with the SDK's `Webhook`.
//
// usage: node svix_sdk_catalog.mjs BASE_URL TOKEN   (prints SDK CATALOG OK and exits 0 on success)

import assert from "node:assert/strict";
import { Svix, Webhook } from "svix";
import { eventually, startReceiver } from "./sdk_helpers.mjs";

const [BASE, TOKEN] = process.argv.slice(2);
const svix = new Svix(TOKEN, { serverUrl: BASE, numRetries: 0 });
const { received, server: receiver, base } = await startReceiver();

// ── Event types keep their schemas, group and flags ──
const schema = {
  type: "object",
  required: ["invoiceId"],
  properties: { invoiceId: { type: "string", description: "The invoice id" }, amount: { type: "integer" } },
};
const created = await svix.eventType.create({
  name: "invoice.paid", description: "An invoice was paid", schemas: { 1: schema }, groupName: "billing",
  featureFlags: ["beta"],
});
assert.equal(created.groupName, "billing");
assert.deepEqual(created.featureFlags, ["beta"]);
const got = await svix.eventType.get("invoice.paid");
assert.deepEqual(got.schemas, { 1: schema });
assert.equal(got.groupName, "billing");
assert.ok(got.createdAt instanceof Date);
const listed = await svix.eventType.list({ withContent: true });
assert.deepEqual(listed.data.find((t) => t.name === "invoice.paid").schemas, { 1: schema });
const patched = await svix.eventType.patch("invoice.paid", { groupName: "payments", featureFlags: null });
assert.equal(patched.groupName, "payments");
assert.equal(patched.featureFlags ?? null, null);
assert.deepEqual(patched.schemas, { 1: schema }, "a patch keeps what it does not name");
const upserted = await svix.eventType.upsert("invoice.voided", { description: "Voided", schemas: { 1: schema }, groupName: "billing" });
assert.equal(upserted.groupName, "billing");

// ── importOpenapi ──
const spec = {
  openapi: "3.1.0",
  info: { title: "Webhook Example", version: "1.0.0" },
  webhooks: {
    "pet.new": {
      post: {
        summary: "A pet was added",
        requestBody: {
          description: "Information about a new pet in the system",
          content: { "application/json": { schema: { $ref: "#/components/schemas/Pet" } } },
        },
        responses: { 200: { description: "Return a 200 status to indicate that the data was received successfully" } },
      },
    },
  },
  components: {
    schemas: {
      Pet: { required: ["id", "name"], properties: { id: { type: "integer", format: "int64" }, name: { type: "string" } } },
    },
  },
};
const dry = await svix.eventType.importOpenapi({ spec, dryRun: true });
assert.deepEqual(dry.data.modified, []);
assert.deepEqual(dry.data.toModify.map((t) => t.name), ["pet.new"]);
assert.equal(dry.data.toModify[0].description, "A pet was added");
await assert.rejects(svix.eventType.get("pet.new"), (e) => e.code === 404, "a dry run creates nothing");
const real = await svix.eventType.importOpenapi({ spec });
assert.deepEqual(real.data.modified, ["pet.new"]);
const pet = await svix.eventType.get("pet.new");
assert.deepEqual(pet.schemas["1"].required, ["id", "name"]);
assert.equal(pet.schemas["1"].properties.id.format, "int64");
const again = await svix.eventType.importOpenapi({ specRaw: JSON.stringify(spec) });
assert.deepEqual(again.data.modified, [], "the same document again changes nothing");

// ── A payload filter ──
const app = await svix.application.create({ name: "filters" });
const ep = await svix.endpoint.create(app.id, { url: `${base}/big`, eventTypes: ["invoice.paid"] });
const r = await fetch(`${BASE}/api/v1/app/${app.id}/endpoint/${ep.id}`, {
  method: "PATCH",
  headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
  body: JSON.stringify({ filter: { payload: { amount: { $gte: 100 } } } }),
});
assert.equal(r.status, 200);
const wanted = [];
for (const amount of [5, 150, 99, 100]) {
  const msg = await svix.message.create(app.id, { eventType: "invoice.paid", payload: { invoiceId: `in_${amount}`, amount } });
  if (amount >= 100) wanted.push(msg.id);
}
await svix.message.create(app.id, { eventType: "invoice.voided", payload: { invoiceId: "v", amount: 1000 } });
const attempted = await svix.messageAttempt.listAttemptedMessages(app.id, ep.id);
assert.deepEqual(attempted.data.map((m) => m.id).sort(), wanted.sort(), "only matching messages were sent to it");
const { key } = await svix.endpoint.getSecret(app.id, ep.id);
const wh = new Webhook(key);
await eventually("two deliveries", () => received.length >= 2);
const amounts = received.map((d) => {
  wh.verify(d.body, d.headers); // throws unless signed with the endpoint's secret over what was sent
  return JSON.parse(d.body).amount;
}).sort((a, b) => a - b);
assert.deepEqual(amounts, [100, 150]);

// Closing waits for open connections, and hookd may be delivering on one (a retry still due): a delivery to a
// server that no longer answers would hold this process up to hookd's request timeout, once per attempt.
receiver.close();
receiver.closeAllConnections();
console.log("SDK CATALOG OK");
