import hmac
import hashlib
import json
import sys

inp = json.load(sys.stdin)
WEBHOOK_SECRET = inp["secret"]

# ── seed 003, Python quick start, unchanged ──
def verify_signature(payload, signature, timestamp):
    signed_payload = f"{timestamp}.{payload}"
    expected = "sha256=" + hmac.new(
        WEBHOOK_SECRET.encode(),
        signed_payload.encode(),
        hashlib.sha256
    ).hexdigest()
    return hmac.compare_digest(expected, signature)
# ──

headers = {k.lower(): v for k, v in inp["headers"].items()}
# Flask: request.data.decode()
ok = verify_signature(inp["body"].encode().decode(), headers["x-webhook-signature"], headers["x-webhook-timestamp"])
print("valid" if ok else "invalid")
sys.exit(0 if ok else 1)
