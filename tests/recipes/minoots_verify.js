const crypto = require('crypto');

// ── seed 001, "Signature Verification", unchanged ──
function verifyWebhookSignature(payload, signature, secret) {
  const expectedSignature = crypto
    .createHmac('sha256', secret)
    .update(payload)
    .digest('hex');
    
  return crypto.timingSafeEqual(
    Buffer.from(`sha256=${expectedSignature}`),
    Buffer.from(signature)
  );
}
// ──

const input = JSON.parse(require('fs').readFileSync(0, 'utf8'));
const h = Object.fromEntries(Object.entries(input.headers).map(([k, v]) => [k.toLowerCase(), v]));
let ok = false;
try {
  ok = verifyWebhookSignature(Buffer.from(input.body), h['x-minoots-signature'], input.secret);
} catch (e) {
  console.log(e.message);
}
console.log(ok ? 'valid' : 'invalid');
process.exit(ok ? 0 : 1);
