import hmac
import hashlib
import time
import json
import sys

# ── seed 000, "Verification Example (Python)", unchanged ──
def verify_webhook_signature(payload, signature, secret, timestamp):
    # Check timestamp
    current_time = int(time.time())
    if abs(current_time - int(timestamp)) > 300:  # 5 minutes tolerance
        raise ValueError('Webhook timestamp too old')
    
    # Create expected signature
    message = f"{timestamp}.{payload}"
    expected_signature = hmac.new(
        secret.encode('utf-8'),
        message.encode('utf-8'),
        hashlib.sha256
    ).hexdigest()
    
    expected_header = f"sha256={expected_signature}"
    
    # Compare signatures
    return hmac.compare_digest(signature, expected_header)
# ──

inp = json.load(sys.stdin)
headers = {k.lower(): v for k, v in inp["headers"].items()}
ok = verify_webhook_signature(inp["body"], headers["x-tms-signature"], inp["secret"], headers["x-tms-timestamp"])
print("valid" if ok else "invalid")
sys.exit(0 if ok else 1)
