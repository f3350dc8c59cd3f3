const crypto = require('crypto');

// ── seed 000, "Verification Example (Node.js)", unchanged ──
function verifyWebhookSignature(payload, signature, secret, timestamp) {
  // Check timestamp to prevent replay attacks
  const currentTime = Math.floor(Date.now() / 1000);
  if (Math.abs(currentTime - timestamp) > 300) { // 5 minutes tolerance
    throw new Error('Webhook timestamp too old');
  }
  
  // Create expected signature
  const expectedSignature = crypto
    .createHmac('sha256', secret)
    .update(`${timestamp}.${payload}`)
    .digest('hex');
  
  const expectedHeader = `sha256=${expectedSignature}`;
  
  // Compare signatures using constant-time comparison
  return crypto.timingSafeEqual(
    Buffer.from(signature),
    Buffer.from(expectedHeader)
  );
}
// ──

const input = JSON.parse(require('fs').readFileSync(0, 'utf8'));
const h = Object.fromEntries(Object.entries(input.headers).map(([k, v]) => [k.toLowerCase(), v]));
let ok = false;
try {
  // express.raw() hands the handler a Buffer, as here.
  ok = verifyWebhookSignature(Buffer.from(input.body), h['x-tms-signature'], input.secret, h['x-tms-timestamp']);
} catch (e) {
  console.log(e.message);
}
console.log(ok ? 'valid' : 'invalid');
process.exit(ok ? 0 : 1);
