// Drives hookd with the official Svix JavaScript SDK (npm `svix` 2.5.0), unchanged: creates an application,
// event types, endpoints and messages, then calls every list method the SDK has for the routes hookd serves
// with `limit`, `iterator` (walking every page), `order` and the filters, and checks what comes back.
//
// usage: node svix_sdk_flow.mjs BASE_URL TOKEN   (prints SDK FLOW OK and exits 0 on success)

import http from "node:http";
import assert from "node:assert/strict";
import { Svix, MessageStatus, Ordering, StatusCodeClass } from "svix";

const [BASE, TOKEN] = process.argv.slice(2);
const svix = new Svix(TOKEN, { serverUrl: BASE, numRetries: 0 });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// A loopback receiver: `/ok` answers 200, `/fail` answers 500.
const got = { ok: 0, fail: 0 };
const receiver = http.createServer((req, res) => {
  req.resume();
  req.on("end", () => {
    const ok = req.url === "/ok";
    got[ok ? "ok" : "fail"] += 1;
    res.writeHead(ok ? 200 : 500).end(ok ? "received" : "down");
  });
});
await new Promise((r) => receiver.listen(0, "127.0.0.1", r));
const url = (path) => `http://127.0.0.1:${receiver.address().port}${path}`;

/** Every item of a listing, a page of `limit` at a time, following `iterator` until `done`. */
async function walk(list, options, { pages } = {}) {
  const items = [];
  let iterator;
  let seen = 0;
  for (;;) {
    const page = await list({ ...options, iterator });
    seen += 1;
    assert.ok(page.data.length <= options.limit, `a page holds at most limit=${options.limit}`);
    items.push(...page.data);
    if (page.done) break;
    assert.equal(page.data.length, options.limit, "a page that is not the last is full");
    assert.ok(page.iterator, "a page that is not the last has an iterator");
    iterator = page.iterator;
    assert.ok(seen < 100, "the listing ends");
  }
  if (pages !== undefined) assert.equal(seen, pages, `${pages} pages`);
  return items;
}

const ids = (items, key = "id") => items.map((i) => i[key]);

async function eventually(what, check) {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

// ── applications ──
const apps = [];
for (const name of ["sdk-a", "sdk-b", "sdk-c"]) {
  apps.push(await svix.application.create({ name, uid: name }));
}
const app = apps[0];
assert.ok(app.id.startsWith("app_"));
const listedApps = await walk((o) => svix.application.list(o), { limit: 2 });
assert.deepEqual(ids(listedApps), ids(apps), "application.list walks every application, oldest first");
const newest = await svix.application.list({ limit: 1, order: Ordering.Descending });
assert.equal(newest.data[0].id, apps[2].id, "order=descending puts the newest first");
assert.equal(newest.done, false);

// ── event types ──
const schema = { 1: { type: "object", properties: { n: { type: "integer" } } } };
for (const name of ["invoice.paid", "user.created", "user.deleted", "user.renamed"]) {
  await svix.eventType.create({ name, description: `about ${name}`, schemas: schema });
}
await svix.eventType.delete("user.renamed"); // archived, not expunged
const live = ["invoice.paid", "user.created", "user.deleted"];
const types = await walk((o) => svix.eventType.list(o), { limit: 2 }, { pages: 2 });
assert.deepEqual(ids(types, "name"), live, "eventType.list: the live types in name order, two pages");
assert.ok(types.every((t) => t.schemas == null), "without withContent the schemas are left out");
const withArchived = await walk((o) => svix.eventType.list(o), { limit: 3, includeArchived: true });
assert.deepEqual(ids(withArchived, "name"), [...live, "user.renamed"]);
assert.equal(withArchived[3].archived, true);
const full = await svix.eventType.list({ limit: 250, withContent: true });
assert.deepEqual(full.data[0].schemas, schema, "withContent: true carries the schemas");
assert.equal(full.done, true);
const typesDesc = await svix.eventType.list({ limit: 2, order: Ordering.Descending });
assert.deepEqual(ids(typesDesc.data, "name"), ["user.deleted", "user.created"]);

// ── endpoints ──
const epOk = await svix.endpoint.create(app.id, { url: url("/ok"), uid: "ep-ok" });
const epFail = await svix.endpoint.create(app.id, { url: url("/fail"), uid: "ep-fail" });
const epInvoices = await svix.endpoint.create(app.id, {
  url: url("/ok"),
  uid: "ep-invoices",
  eventTypes: ["invoice.paid"],
});
assert.deepEqual(epInvoices.eventTypes, ["invoice.paid"]);
const endpoints = await walk((o) => svix.endpoint.list(app.id, o), { limit: 2 }, { pages: 2 });
assert.deepEqual(ids(endpoints), [epOk.id, epFail.id, epInvoices.id], "endpoint.list, oldest first");
const endpointsDesc = await walk((o) => svix.endpoint.list(app.id, o), { limit: 2, order: Ordering.Descending });
assert.deepEqual(ids(endpointsDesc), [epInvoices.id, epFail.id, epOk.id]);

// ── messages ── (the failing endpoint goes through its retries; the messages before `between` are older)
const sent = [];
const send = async (eventType, channels) => {
  const m = await svix.message.create(app.id, { eventType, payload: { n: sent.length }, channels }, { withContent: true });
  sent.push(m);
  return m;
};
await send("user.created", ["eu"]);
await send("invoice.paid", ["us"]);
// The first two messages' first attempts are made before `between`, the others' after it.
await eventually("the first two deliveries' attempts", async () => {
  const made = await svix.messageAttempt.listByEndpoint(app.id, epOk.id, { limit: 10 });
  return made.data.length === 2;
});
await sleep(20);
const between = new Date();
await sleep(20);
await send("user.created", ["us"]);
await send("user.deleted", ["eu"]);
await send("invoice.paid", ["eu"]);
assert.deepEqual(sent[0].payload, { n: 0 }, "message.create withContent: true echoes the payload");
const sentIds = ids(sent);
const newestFirst = [...sentIds].reverse();

// Wait until every delivery is final: to ep-ok all 5 succeed, to ep-invoices the 2 invoices, ep-fail fails all 5.
await eventually("every delivery to end", async () => {
  for (const m of sent) {
    const dests = await svix.messageAttempt.listAttemptedDestinations(app.id, m.id, { limit: 10 });
    if (dests.data.some((d) => d.status !== MessageStatus.Success && d.status !== MessageStatus.Fail)) return false;
  }
  return true;
});

const msgs = await walk((o) => svix.message.list(app.id, o), { limit: 2 }, { pages: 3 });
assert.deepEqual(ids(msgs), newestFirst, "message.list walks every message, newest first");
assert.ok(msgs.every((m) => JSON.stringify(m.payload) === "{}"), "message.list leaves payloads out by default");
const withPayload = await svix.message.list(app.id, { limit: 1, withContent: true });
assert.deepEqual(withPayload.data[0].payload, { n: 4 });
const byType = await walk((o) => svix.message.list(app.id, o), { limit: 1, eventTypes: ["user.created", "user.deleted"] });
assert.deepEqual(ids(byType), [sentIds[3], sentIds[2], sentIds[0]], "eventTypes filter");
const byChannel = await walk((o) => svix.message.list(app.id, o), { limit: 1, channel: "us" });
assert.deepEqual(ids(byChannel), [sentIds[2], sentIds[1]], "channel filter");
const before = await walk((o) => svix.message.list(app.id, o), { limit: 1, before: between });
assert.deepEqual(ids(before), [sentIds[1], sentIds[0]], "before filter");
const after = await walk((o) => svix.message.list(app.id, o), { limit: 2, after: between });
assert.deepEqual(ids(after), [sentIds[4], sentIds[3], sentIds[2]], "after filter");
const got1 = await svix.message.get(app.id, sentIds[1], { withContent: true });
assert.deepEqual(got1.payload, { n: 1 });

// ── attempts by message ──
const invoice = sent[4];
const byMsg = await walk((o) => svix.messageAttempt.listByMsg(app.id, invoice.id, o), { limit: 1 });
const failedCount = byMsg.filter((a) => a.status === MessageStatus.Fail).length;
assert.equal(byMsg.filter((a) => a.status === MessageStatus.Success).length, 2, "ep-ok and ep-invoices succeeded");
assert.ok(failedCount >= 1, "ep-fail failed");
assert.ok(byMsg.every((a) => a.msgId === invoice.id));
const okOnly = await walk((o) => svix.messageAttempt.listByMsg(app.id, invoice.id, o), {
  limit: 1,
  status: MessageStatus.Success,
});
assert.deepEqual(new Set(okOnly.map((a) => a.endpointId)), new Set([epOk.id, epInvoices.id]), "status filter");
const fiveHundreds = await walk((o) => svix.messageAttempt.listByMsg(app.id, invoice.id, o), {
  limit: 2,
  statusCodeClass: StatusCodeClass.Code5xx,
});
assert.equal(fiveHundreds.length, failedCount, "statusCodeClass filter");
assert.ok(fiveHundreds.every((a) => a.responseStatusCode === 500 && a.endpointId === epFail.id));
const oneEndpoint = await svix.messageAttempt.listByMsg(app.id, invoice.id, { limit: 250, endpointId: epInvoices.id });
assert.deepEqual(ids(oneEndpoint.data, "endpointId"), [epInvoices.id], "endpointId filter");
const wrongType = await svix.messageAttempt.listByMsg(app.id, invoice.id, { limit: 250, eventTypes: ["user.created"] });
assert.equal(wrongType.data.length, 0, "eventTypes filter on attempts");
const wrongChannel = await svix.messageAttempt.listByMsg(app.id, invoice.id, { limit: 250, channel: "us" });
assert.equal(wrongChannel.data.length, 0, "channel filter on attempts");

// ── attempts by endpoint ──
// Attempts are listed newest first by when they were made; deliveries made at once may finish in any order.
const sorted = (list) => [...list].sort();
const okAttempts = await walk((o) => svix.messageAttempt.listByEndpoint(app.id, epOk.id, o), { limit: 2 }, { pages: 3 });
assert.deepEqual(sorted(ids(okAttempts, "msgId")), sorted(sentIds), "listByEndpoint: one success per message");
assert.equal(new Set(ids(okAttempts)).size, 5, "no attempt listed twice across pages");
const again = await walk((o) => svix.messageAttempt.listByEndpoint(app.id, epOk.id, o), { limit: 2 });
assert.deepEqual(ids(again), ids(okAttempts), "the same walk twice");
const failAttempts = await walk((o) => svix.messageAttempt.listByEndpoint(app.id, epFail.id, o), {
  limit: 3,
  status: MessageStatus.Fail,
});
assert.ok(failAttempts.length >= 5 && failAttempts.every((a) => a.status === MessageStatus.Fail && a.endpointId === epFail.id));
assert.deepEqual(sorted(new Set(ids(failAttempts, "msgId"))), sorted(sentIds));
const euOnly = await walk((o) => svix.messageAttempt.listByEndpoint(app.id, epOk.id, o), { limit: 1, channel: "eu" });
assert.deepEqual(sorted(ids(euOnly, "msgId")), sorted([sentIds[4], sentIds[3], sentIds[0]]), "channel filter");
const invoicesOnly = await walk((o) => svix.messageAttempt.listByEndpoint(app.id, epOk.id, o), {
  limit: 1,
  eventTypes: ["invoice.paid"],
});
assert.deepEqual(sorted(ids(invoicesOnly, "msgId")), sorted([sentIds[4], sentIds[1]]), "eventTypes filter");
const earlyAttempts = await svix.messageAttempt.listByEndpoint(app.id, epOk.id, { limit: 250, before: between });
assert.deepEqual(sorted(ids(earlyAttempts.data, "msgId")), sorted([sentIds[1], sentIds[0]]), "before filter");
const lateAttempts = await svix.messageAttempt.listByEndpoint(app.id, epOk.id, { limit: 250, after: between });
assert.deepEqual(sorted(ids(lateAttempts.data, "msgId")), sorted(sentIds.slice(2)), "after filter");
const twoHundreds = await svix.messageAttempt.listByEndpoint(app.id, epInvoices.id, {
  limit: 250,
  statusCodeClass: StatusCodeClass.Code2xx,
});
assert.deepEqual(sorted(ids(twoHundreds.data, "msgId")), sorted([sentIds[4], sentIds[1]]), "only the invoices reach ep-invoices");

// ── messages attempted for an endpoint ──
const attempted = await walk((o) => svix.messageAttempt.listAttemptedMessages(app.id, epOk.id, o), { limit: 2 }, { pages: 3 });
assert.deepEqual(ids(attempted), newestFirst, "listAttemptedMessages walks every message");
assert.ok(attempted.every((m) => m.status === MessageStatus.Success && JSON.stringify(m.payload) === "{}"));
const attemptedFull = await svix.messageAttempt.listAttemptedMessages(app.id, epOk.id, { limit: 1, withContent: true });
assert.deepEqual(attemptedFull.data[0].payload, { n: 4 }, "withContent: true");
const failedMsgs = await walk((o) => svix.messageAttempt.listAttemptedMessages(app.id, epFail.id, o), {
  limit: 2,
  status: MessageStatus.Fail,
});
assert.deepEqual(ids(failedMsgs), newestFirst, "status filter: every message failed on ep-fail");
const noneSucceeded = await svix.messageAttempt.listAttemptedMessages(app.id, epFail.id, {
  limit: 250,
  status: MessageStatus.Success,
});
assert.equal(noneSucceeded.data.length, 0);
const attemptedTyped = await walk((o) => svix.messageAttempt.listAttemptedMessages(app.id, epOk.id, o), {
  limit: 1,
  eventTypes: ["user.created"],
  channel: "us",
});
assert.deepEqual(ids(attemptedTyped), [sentIds[2]], "eventTypes and channel filters together");
const attemptedEarly = await svix.messageAttempt.listAttemptedMessages(app.id, epOk.id, { limit: 250, before: between });
assert.deepEqual(ids(attemptedEarly.data), [sentIds[1], sentIds[0]], "before filter");
const attemptedLate = await svix.messageAttempt.listAttemptedMessages(app.id, epOk.id, { limit: 250, after: between });
assert.deepEqual(ids(attemptedLate.data), [sentIds[4], sentIds[3], sentIds[2]], "after filter");

// ── endpoints attempted for a message ──
const dests = await walk((o) => svix.messageAttempt.listAttemptedDestinations(app.id, invoice.id, o), { limit: 1 }, { pages: 3 });
assert.deepEqual(new Set(ids(dests)), new Set([epOk.id, epFail.id, epInvoices.id]), "every endpoint, one a page");
const statusOf = Object.fromEntries(dests.map((d) => [d.id, d.status]));
assert.equal(statusOf[epOk.id], MessageStatus.Success);
assert.equal(statusOf[epFail.id], MessageStatus.Fail);
const userDests = await svix.messageAttempt.listAttemptedDestinations(app.id, sentIds[0], { limit: 250 });
assert.deepEqual(new Set(ids(userDests.data)), new Set([epOk.id, epFail.id]), "ep-invoices filters user.* out");

// ── the rest of the API through the same client ──
const stats = await svix.endpoint.getStats(app.id, epFail.id, { since: new Date(Date.now() - 3_600_000), until: new Date(Date.now() + 60_000) });
assert.equal(stats.fail, 5, `endpoint.getStats: ${JSON.stringify(stats)}`);
const gotAttempt = await svix.messageAttempt.get(app.id, invoice.id, okOnly[0].id);
assert.equal(gotAttempt.id, okOnly[0].id);
assert.equal((await svix.application.get("sdk-b")).id, apps[1].id);

// Closing waits for open connections, and hookd may be delivering on one (a retry still due): a delivery to a
// server that no longer answers would hold this process up to hookd's request timeout, once per attempt.
receiver.close();
receiver.closeAllConnections();
console.log("SDK FLOW OK");
