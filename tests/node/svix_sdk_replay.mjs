// Background replays through the official Svix JavaScript SDK (npm `svix` 2.5.0), unchanged:
// endpoint.replayMissing, endpoint.bulkReplay, endpoint.recover, and backgroundTask.list / get.
//
// usage: node svix_sdk_replay.mjs BASE_URL TOKEN   (prints SDK REPLAY OK and exits 0 on success)

import http from "node:http";
import assert from "node:assert/strict";
import { Svix, MessageStatus, BackgroundTaskStatus, BackgroundTaskType, ApiException } from "svix";

const [BASE, TOKEN] = process.argv.slice(2);
const svix = new Svix(TOKEN, { serverUrl: BASE, numRetries: 0 });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// A loopback receiver recording the svix-id of every request by path; `/flaky` answers 500 while `flaky`.
let flaky = true;
const got = { "/ok": [], "/flaky": [] };
const receiver = http.createServer((req, res) => {
  req.resume();
  req.on("end", () => {
    const fail = req.url === "/flaky" && flaky;
    if (!fail) got[req.url].push(req.headers["svix-id"]);
    res.writeHead(fail ? 500 : 200).end(fail ? "down" : "ok");
  });
});
await new Promise((r) => receiver.listen(0, "127.0.0.1", r));
const url = (path) => `http://127.0.0.1:${receiver.address().port}${path}`;

async function eventually(what, check) {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

/** Polls backgroundTask.get until the task has ended. */
const ended = (task) =>
  eventually(`task ${task.id} to end`, async () => {
    const t = await svix.backgroundTask.get(task.id);
    return t.status !== BackgroundTaskStatus.Running && t;
  });

const app = await svix.application.create({ name: "replays" });
const ep = await svix.endpoint.create(app.id, { url: url("/ok"), eventTypes: ["a"] });
const epFlaky = await svix.endpoint.create(app.id, { url: url("/flaky") });

// ── replay-missing: what the endpoint never got while disabled (or filtered out) ──
const since = new Date();
await sleep(5);
await svix.endpoint.patch(app.id, ep.id, { disabled: true });
const missedA = await svix.message.create(app.id, { eventType: "a", payload: { n: 1 } });
const missedB = await svix.message.create(app.id, { eventType: "b", payload: { n: 2 } });
await svix.endpoint.patch(app.id, ep.id, { disabled: false, eventTypes: ["a", "b"] });

const replay = await svix.endpoint.replayMissing(app.id, ep.id, { since });
assert.equal(replay.task, BackgroundTaskType.EndpointReplay);
assert.ok(replay.id.startsWith("qtask_"), replay.id);
assert.ok(replay.updatedAt instanceof Date);
const replayed = await ended(replay);
assert.equal(replayed.status, BackgroundTaskStatus.Finished);
assert.equal(replayed.data.messagesSent, 2, JSON.stringify(replayed));
await eventually("the missed messages", () => got["/ok"].length >= 2);
assert.deepEqual(new Set(got["/ok"]), new Set([missedA.id, missedB.id]));

// ── bulk replay: the failed deliveries of one event type again ──
// Both messages fail on /flaky through its retries (they reached /ok the first time).
await eventually("the flaky endpoint's deliveries to fail for good", async () => {
  for (const m of [missedA, missedB]) {
    const dests = await svix.messageAttempt.listAttemptedDestinations(app.id, m.id, { limit: 10 });
    if (dests.data.find((d) => d.id === epFlaky.id)?.status !== MessageStatus.Fail) return false;
  }
  return true;
});
flaky = false;
const bulk = await svix.endpoint.bulkReplay(app.id, epFlaky.id, { since, eventTypes: ["a"], status: MessageStatus.Fail });
assert.equal(bulk.task, BackgroundTaskType.EndpointBulkReplay);
const bulkDone = await ended(bulk);
assert.equal(bulkDone.status, BackgroundTaskStatus.Finished);
assert.equal(bulkDone.data.messagesSent, 1, JSON.stringify(bulkDone));
await eventually("the replayed `a` message", () => got["/flaky"].length >= 1);
assert.deepEqual(got["/flaky"], [missedA.id]);

// ── recover: every failed delivery since, recorded as a task too ──
const recover = await svix.endpoint.recover(app.id, epFlaky.id, { since });
assert.equal(recover.task, BackgroundTaskType.EndpointRecover);
const recovered = await ended(recover);
assert.equal(recovered.data.messagesSent, 1, JSON.stringify(recovered));
await eventually("the recovered `b` message", () => got["/flaky"].length >= 2);
assert.deepEqual(got["/flaky"], [missedA.id, missedB.id]);

// ── listing ──
const all = [];
let iterator;
for (;;) {
  const page = await svix.backgroundTask.list({ limit: 1, iterator });
  assert.ok(page.data.length <= 1);
  all.push(...page.data);
  if (page.done) break;
  iterator = page.iterator;
}
assert.deepEqual(all.map((t) => t.id), [recover.id, bulk.id, replay.id], "backgroundTask.list: newest first, a page at a time");
assert.ok(all.every((t) => t.status === BackgroundTaskStatus.Finished && t.updatedAt instanceof Date));
const bulkOnly = await svix.backgroundTask.list({ task: BackgroundTaskType.EndpointBulkReplay });
assert.deepEqual(bulkOnly.data.map((t) => t.id), [bulk.id], "task filter");
const runningNow = await svix.backgroundTask.list({ status: BackgroundTaskStatus.Running });
assert.equal(runningNow.data.length, 0, "status filter");
await assert.rejects(svix.backgroundTask.get("qtask_2hvVXzLd8FQFWUVbbOCqDpHNSdR"), (e) => e instanceof ApiException && e.code === 404);

// Closing waits for open connections, and hookd may be delivering on one (a retry still due): a delivery to a
// server that no longer answers would hold this process up to hookd's request timeout, once per attempt.
receiver.close();
receiver.closeAllConnections();
console.log("SDK REPLAY OK");
