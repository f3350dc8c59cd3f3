// Signs a request as Notion does, with the official SDK's helper: @notionhq/client `signWebhookPayload`
// (HMAC-SHA256 of the raw body keyed with the subscription's verification token, sent as
// `X-Notion-Signature: sha256=<hex>`). Notion signs no timestamp.
//
// With `extra.verificationHandshake: true` it prints Notion's first, unsigned request instead:
// `{"verification_token": "<secret>"}` without a signature header.
import { createRequire } from "node:module";

const require = createRequire(new URL("../../node/package.json", import.meta.url));
const { signWebhookPayload } = require("@notionhq/client");

let raw = "";
for await (const chunk of process.stdin) raw += chunk;
const inp = JSON.parse(raw);
const extra = inp.extra || {};

if (extra.verificationHandshake) {
  const body = JSON.stringify({ verification_token: inp.secret });
  console.log(JSON.stringify({ headers: { "Content-Type": "application/json" }, body, url: inp.url }));
} else {
  const signature = await signWebhookPayload({ body: inp.body, verificationToken: inp.secret });
  console.log(
    JSON.stringify({
      headers: { "Content-Type": "application/json", "X-Notion-Signature": signature },
      body: inp.body,
      url: inp.url,
    }),
  );
}
