const crypto = require('crypto');

const input = JSON.parse(require('fs').readFileSync(0, 'utf8'));
const WEBHOOK_SECRET = input.secret;

// ── seed 003, Node.js quick start, unchanged ──
function verifySignature(payload, signature, timestamp) {
  const signedPayload = `${timestamp}.${JSON.stringify(payload)}`;
  const expected = 'sha256=' + crypto
    .createHmac('sha256', WEBHOOK_SECRET)
    .update(signedPayload)
    .digest('hex');
  return crypto.timingSafeEqual(Buffer.from(expected), Buffer.from(signature));
}
// ──

const h = Object.fromEntries(Object.entries(input.headers).map(([k, v]) => [k.toLowerCase(), v]));
let ok = false;
try {
  // express.json() parses the body before the handler sees it.
  ok = verifySignature(JSON.parse(input.body), h['x-webhook-signature'], h['x-webhook-timestamp']);
} catch (e) {
  console.log(e.message);
}
console.log(ok ? 'valid' : 'invalid');
process.exit(ok ? 0 : 1);
