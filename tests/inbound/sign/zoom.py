"""Signs a request as Zoom does.

Zoom publishes no signing library; this follows Zoom's webhook documentation ("Verify webhook events") with
Python's hmac: message `v0:{x-zm-request-timestamp}:{raw body}`, `x-zm-signature: v0=<hex HMAC-SHA256>` keyed with
the app's secret token (UTF-8). `extra.trackingId` (optional) is sent as `x-zm-trackingid`.
"""
import hashlib
import hmac
import json
import sys

inp = json.load(sys.stdin)
body = inp["body"]
ts = str(int(inp["timestamp"]))
extra = inp.get("extra") or {}
message = f"v0:{ts}:{body}"
sig = hmac.new(inp["secret"].encode(), message.encode(), hashlib.sha256).hexdigest()
headers = {
    "Content-Type": "application/json",
    "x-zm-request-timestamp": ts,
    "x-zm-signature": "v0=" + sig,
}
if extra.get("trackingId"):
    headers["x-zm-trackingid"] = extra["trackingId"]
print(json.dumps({"headers": headers, "body": body, "url": inp["url"]}))
