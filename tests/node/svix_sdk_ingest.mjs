// The Svix Ingest API through the official Svix JavaScript SDK (npm `svix` 2.5.0), unchanged: `ingest.source`
// creates a GitHub and a Stripe source, `ingest.endpoint` an endpoint on each (a loopback receiver). A request
// signed as the provider signs it (GitHub with @octokit/webhooks-methods, its own library; Stripe by its
// documentation, `t=…,v1=HMAC-SHA256(secret, "t.body")`, as stripe-node's generateTestHeaderString makes it) is
// accepted at the source's ingest URL and arrives at the endpoint signed (checked with the SDK's `Webhook`); a
// tampered one is 401 and never arrives; a rotated token gives a new URL while the old one still works; sources
// and endpoints round-trip through list/get/upsert/delete and the endpoint's secret, headers and transformation
// calls; the consumer portal link (`ingest.authentication.consumerPortalAccess`) opens the app portal over the
// source's endpoints; bad input is a 4xx with a JSON body.
//
// usage: node svix_sdk_ingest.mjs BASE_URL TOKEN OTHER_ORG_TOKEN   (prints SDK INGEST OK and exits 0 on success)

import assert from "node:assert/strict";
import crypto from "node:crypto";
import { sign as githubSign } from "@octokit/webhooks-methods";
import { Svix, Webhook } from "svix";
import { eventually, startReceiver } from "./sdk_helpers.mjs";

const [BASE, TOKEN, OTHER] = process.argv.slice(2);
const svix = new Svix(TOKEN, { serverUrl: BASE, numRetries: 0 });
const { received, server: receiver, base } = await startReceiver();

// ── sources and their endpoints ──
const GH_SECRET = "gh-ingest-secret-1";
const STRIPE_SECRET = "whsec_stripeingest0123456789";
const gh = await svix.ingest.source.create({
  name: "github",
  uid: "gh-src",
  type: "github",
  config: { secret: GH_SECRET },
  metadata: { team: "platform" },
});
assert.equal(gh.type, "github");
assert.deepEqual(gh.config, {}, "the secret is not shown back");
assert.deepEqual(gh.metadata, { team: "platform" });
assert.ok(gh.ingestUrl.startsWith(`${BASE}/ingest/in/${gh.id}/`), gh.ingestUrl);
assert.ok(gh.createdAt instanceof Date);
const stripe = await svix.ingest.source.create({ name: "stripe", type: "stripe", config: { secret: STRIPE_SECRET } });
assert.equal(stripe.type, "stripe");
assert.notEqual(stripe.ingestUrl, gh.ingestUrl);

const ghEp = await svix.ingest.endpoint.create(gh.id, {
  url: `${base}/github`,
  description: "github events",
  headers: { "X-Team": "ingest" },
  metadata: { k: "v" },
});
assert.equal(ghEp.url, `${base}/github`);
assert.equal(ghEp.description, "github events");
assert.deepEqual(ghEp.metadata, { k: "v" });
const stEp = await svix.ingest.endpoint.create(stripe.id, { url: `${base}/stripe`, uid: "stripe-ep" });
assert.equal(stEp.uid, "stripe-ep");

// ── requests signed the providers' ways ──
const post = (url, body, headers) =>
  fetch(url, { method: "POST", body, headers: { "content-type": "application/json", ...headers } });

async function github(url, body, delivery, signWith = body) {
  return post(url, body, {
    "x-github-event": "issues",
    "x-github-delivery": delivery,
    "x-hub-signature-256": await githubSign(GH_SECRET, signWith),
  });
}

function stripeHeader(body, secret = STRIPE_SECRET) {
  const t = Math.floor(Date.now() / 1000);
  const v1 = crypto.createHmac("sha256", secret).update(`${t}.${body}`).digest("hex");
  return `t=${t},v1=${v1}`;
}

const ghBody = JSON.stringify({ action: "opened", issue: { id: 1234567, title: "hello" } });
let r = await github(gh.ingestUrl, ghBody, "gh-delivery-1");
assert.equal(r.status, 200, await r.text());
const stBody = JSON.stringify({ id: "evt_ingest_1", type: "invoice.paid", data: { object: { id: "in_1", object: "invoice" } } });
r = await post(stripe.ingestUrl, stBody, { "stripe-signature": stripeHeader(stBody) });
assert.equal(r.status, 200, await r.text());

// Tampered: signed for one body, sent with another; and a Stripe signature made with another secret.
const tampered = ghBody.replace("hello", "pwned");
r = await github(gh.ingestUrl, tampered, "gh-delivery-x", ghBody);
assert.equal(r.status, 401);
assert.ok((await r.json()).error.includes("signature"));
const stTampered = stBody.replace("in_1", "in_666");
r = await post(stripe.ingestUrl, stTampered, { "stripe-signature": stripeHeader(stBody) });
assert.equal(r.status, 401);
r = await post(stripe.ingestUrl, stBody, { "stripe-signature": stripeHeader(stBody, "whsec_someoneelse000000") });
assert.equal(r.status, 401);
// A wrong token is no source at all.
r = await github(gh.ingestUrl.replace(/\/[^/]+$/, "/not-the-token"), ghBody, "gh-delivery-y");
assert.equal(r.status, 404);

// ── what arrives, signed with the endpoints' secrets ──
const ghKey = (await svix.ingest.endpoint.getSecret(gh.id, ghEp.id)).key;
const stKey = (await svix.ingest.endpoint.getSecret(stripe.id, "stripe-ep")).key;
assert.ok(ghKey.startsWith("whsec_"));
const at = (path) => received.filter((x) => x.path === path);
// The SDK's Webhook throws unless the request is signed with `key` (it answers nothing in SDK 2.5).
const verified = (key, x) => {
  new Webhook(key).verify(x.body, x.headers);
  return JSON.parse(x.body);
};
const [ghGot] = await eventually("the GitHub event at its endpoint", () => (at("/github").length ? at("/github") : null));
const ghPayload = verified(ghKey, ghGot);
assert.equal(ghGot.headers["x-team"], "ingest");
assert.equal(ghPayload.providerId, "github");
assert.equal(ghPayload.data.issue.title, "hello");
assert.equal(ghPayload.deliveryId, "gh-delivery-1");
const [stGot] = await eventually("the Stripe event at its endpoint", () => (at("/stripe").length ? at("/stripe") : null));
const stPayload = verified(stKey, stGot);
assert.equal(stPayload.deliveryId, "evt_ingest_1");
assert.equal(stPayload.data.data.object.id, "in_1");

// ── token rotation: a new URL; the old one keeps working ──
const rotated = await svix.ingest.source.rotateToken(gh.id);
assert.notEqual(rotated.ingestUrl, gh.ingestUrl);
assert.ok(rotated.ingestUrl.startsWith(`${BASE}/ingest/in/${gh.id}/`));
assert.equal((await svix.ingest.source.get(gh.id)).ingestUrl, rotated.ingestUrl);
const oldBody = JSON.stringify({ action: "closed", issue: { id: 1234567, title: "via the old URL" } });
r = await github(gh.ingestUrl, oldBody, "gh-delivery-2");
assert.equal(r.status, 200, await r.text());
const newBody = JSON.stringify({ action: "reopened", issue: { id: 1234567, title: "via the new URL" } });
r = await github(rotated.ingestUrl, newBody, "gh-delivery-3");
assert.equal(r.status, 200, await r.text());
// The same delivery again is answered 200 and not forwarded twice.
r = await github(rotated.ingestUrl, newBody, "gh-delivery-3");
assert.equal(r.status, 200);
assert.equal((await r.json()).duplicate, true);
const titles = await eventually("both GitHub events after the rotation", () => {
  const got = at("/github").map((x) => verified(ghKey, x).data.issue.title);
  return got.includes("via the old URL") && got.includes("via the new URL") ? got : null;
});
assert.ok(!titles.includes("pwned"), "the tampered request never arrives");
assert.equal(titles.filter((t) => t === "via the new URL").length, 1, "a duplicate is not forwarded");
assert.ok(!at("/stripe").some((x) => x.body.includes("in_666")));

// ── list, get, upsert, delete ──
const listed = await svix.ingest.source.list({ limit: 10 });
assert.deepEqual(listed.data.map((s) => s.id).sort(), [gh.id, stripe.id].sort());
assert.equal(listed.done, true);
const page1 = await svix.ingest.source.list({ limit: 1 });
assert.equal(page1.data.length, 1);
assert.equal(page1.done, false);
const page2 = await svix.ingest.source.list({ limit: 1, iterator: page1.iterator });
assert.equal(page2.data.length, 1);
assert.notEqual(page2.data[0].id, page1.data[0].id);
assert.equal((await svix.ingest.source.get("gh-src")).id, gh.id);
const renamed = await svix.ingest.source.upsert("gh-src", {
  name: "github renamed",
  type: "github",
  config: { secret: GH_SECRET },
});
assert.equal(renamed.id, gh.id);
assert.equal(renamed.name, "github renamed");
assert.equal(renamed.uid, "gh-src");
const made = await svix.ingest.source.upsert("generic-src", { name: "generic", type: "generic-webhook", config: {} });
assert.equal(made.type, "generic-webhook");
assert.equal(made.uid, "generic-src");
r = await post(made.ingestUrl, JSON.stringify({ type: "anything.happened" }), {});
assert.equal(r.status, 200, "generic-webhook verifies nothing");
await svix.ingest.source.delete(made.id);
await assert.rejects(svix.ingest.source.get(made.id), (e) => e.code === 404);

// ── endpoint calls ──
const eps = await svix.ingest.endpoint.list(gh.id);
assert.deepEqual(eps.data.map((e) => e.id), [ghEp.id]);
assert.equal((await svix.ingest.endpoint.get(stripe.id, "stripe-ep")).id, stEp.id);
const upserted = await svix.ingest.endpoint.upsert(gh.id, ghEp.id, {
  url: `${base}/github`,
  description: "changed",
  throttleRate: 10,
});
assert.equal(upserted.description, "changed");
assert.equal(upserted.throttleRate, 10);
await svix.ingest.endpoint.rotateSecret(gh.id, ghEp.id, {});
assert.notEqual((await svix.ingest.endpoint.getSecret(gh.id, ghEp.id)).key, ghKey);
await svix.ingest.endpoint.setHeaders(gh.id, ghEp.id, { headers: { "X-Other": "1", Authorization: "Bearer x" } });
const hs = await svix.ingest.endpoint.getHeaders(gh.id, ghEp.id);
assert.deepEqual(hs.headers, { "X-Other": "1" });
assert.deepEqual(hs.sensitive, ["Authorization"]);
await svix.ingest.endpoint.transformation.patch(gh.id, ghEp.id, {
  code: "function handler(webhook) { webhook.payload.seen = true; return webhook; }",
});
const tr = await svix.ingest.endpoint.transformation.get(gh.id, ghEp.id);
assert.equal(tr.enabled, true);
assert.ok(tr.code.includes("handler"));
await svix.ingest.endpoint.delete(stripe.id, stEp.id);
await assert.rejects(svix.ingest.endpoint.get(stripe.id, stEp.id), (e) => e.code === 404);

// ── bad input: 4xx with a JSON body naming the field ──
async function call(method, path, body, token = TOKEN, raw = false) {
  const res = await fetch(`${BASE}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: body === undefined ? undefined : raw ? body : JSON.stringify(body),
  });
  return { status: res.status, body: await res.json() };
}
let bad = await call("POST", "/ingest/api/v1/source", { name: "x", type: "no-such-provider", config: {} });
assert.equal(bad.status, 422);
assert.deepEqual(bad.body.detail[0].loc, ["body", "type"]);
bad = await call("POST", "/ingest/api/v1/source", { name: "x", type: "stripe", config: {} });
assert.equal(bad.status, 422);
assert.deepEqual(bad.body.detail[0].loc, ["body", "config", "secret"]);
bad = await call("POST", "/ingest/api/v1/source", { name: "x", type: "meta", config: { secret: "meta-secret-1" } });
assert.equal(bad.status, 422);
assert.deepEqual(bad.body.detail[0].loc, ["body", "config", "verifyToken"]);
bad = await call("POST", "/ingest/api/v1/source", { name: "x", type: "github", config: { secret: "s3cretvalue", colour: 1 } });
assert.equal(bad.status, 422);
assert.deepEqual(bad.body.detail[0].loc, ["body", "config", "colour"]);
bad = await call("POST", "/ingest/api/v1/source", "{\"name\": ", TOKEN, true);
assert.equal(bad.status, 400);
assert.equal(typeof bad.body.detail, "string");
bad = await call("POST", "/ingest/api/v1/source", { name: "dup", uid: "gh-src", type: "github", config: { secret: GH_SECRET } });
assert.equal(bad.status, 409);
bad = await call("POST", `/ingest/api/v1/source/${gh.id}/endpoint`, { url: "not a url" });
assert.equal(bad.status, 422);
assert.deepEqual(bad.body.detail[0].loc, ["body", "url"]);
for (const path of [
  `/ingest/api/v1/source/${gh.id}`,
  `/ingest/api/v1/source/${gh.id}/endpoint`,
  `/ingest/api/v1/source/${gh.id}/endpoint/${ghEp.id}`,
  `/ingest/api/v1/source/${gh.id}/endpoint/${ghEp.id}/secret`,
]) {
  bad = await call("GET", path, undefined, OTHER);
  assert.equal(bad.status, 404, `${path} for another organization`);
  assert.equal(bad.body.code, "not_found");
}
bad = await call("POST", `/ingest/api/v1/source/${gh.id}/token/rotate`, undefined, OTHER);
assert.equal(bad.status, 404);

// ── the consumer portal: a link to the source's endpoints, read-only here ──
const link = await svix.ingest.authentication.consumerPortalAccess(gh.id, { readOnly: true, expiry: 3600 });
assert.ok(link.token.startsWith("appsk_") && link.url === `${BASE}/portal/#key=${link.token}`, link.url);
const session = await call("GET", "/portal/session", undefined, link.token);
assert.equal(session.status, 200);
assert.deepEqual(session.body.capabilities, ["ViewBase"]);
const seen = await call("GET", `/api/v1/app/${session.body.appId}/endpoint`, undefined, link.token);
assert.deepEqual(seen.body.data.map((e) => e.id), [ghEp.id], "the portal shows the source's endpoints");
bad = await call("POST", `/api/v1/app/${session.body.appId}/endpoint`, { url: "https://x.example/hook" }, link.token);
assert.equal(bad.status, 403, "a read-only link changes nothing");
bad = await call("GET", `/ingest/api/v1/source/${gh.id}`, undefined, link.token);
assert.ok(bad.status === 401 || bad.status === 403, "the link reaches only the portal's routes");
bad = await call("POST", `/ingest/api/v1/source/${gh.id}/dashboard`, { expiry: 0 });
assert.equal(bad.status, 422);
assert.deepEqual(bad.body.detail[0].loc, ["body", "expiry"]);
bad = await call("POST", `/ingest/api/v1/source/${gh.id}/dashboard`, {}, OTHER);
assert.equal(bad.status, 404);

// Closing waits for open connections, and hookd may be delivering on one (a retry still due): a delivery to a
// server that no longer answers would hold this process up to hookd's request timeout, once per attempt.
receiver.close();
receiver.closeAllConnections();
console.log("SDK INGEST OK");
