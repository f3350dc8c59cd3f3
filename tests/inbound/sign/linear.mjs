// Linear signer. Linear's signing is done on its servers and its SDK (@linear/sdk, not installed here) only
// verifies, so this follows Linear's documentation (https://linear.app/developers/webhooks#securing-webhooks)
// and the SDK's `LinearWebhooks.verify`: Linear-Signature = hex HMAC-SHA256 of the raw body keyed with the
// webhook's signing secret, no prefix; replay protection is the body's `webhookTimestamp` (unix ms), which
// must be within a minute of now. So the body is re-stamped with `timestamp` (in ms) before it is signed.
// Contract: tests/inbound/README.md.
import { createHmac } from "node:crypto";
import { readFileSync } from "node:fs";

const req = JSON.parse(readFileSync(0, "utf8"));
const stampMs = Number(req.timestamp) * 1000;
const field = /"webhookTimestamp"\s*:\s*-?\d+(\.\d+)?/;
// Keep the body's bytes as they are apart from the stamp; add the field when the body lacks it.
const body = field.test(req.body)
  ? req.body.replace(field, `"webhookTimestamp":${stampMs}`)
  : JSON.stringify({ ...JSON.parse(req.body), webhookTimestamp: stampMs });
const headers = {
  "Linear-Signature": createHmac("sha256", req.secret).update(body, "utf8").digest("hex"),
  ...(req.extra?.headers ?? {}),
};
process.stdout.write(JSON.stringify({ headers, body, url: req.url }) + "\n");
