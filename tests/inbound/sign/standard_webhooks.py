"""Signs a request with the official Standard Webhooks library: PyPI `standardwebhooks`
`Webhook(secret).sign(msg_id, timestamp, body)` (signed content `{id}.{timestamp}.{body}`, HMAC-SHA256 keyed with
the base64-decoded part after `whsec_`, header value `v1,<base64>`).

`extra.msgId` is the message id (default `msg_…` fixed below); `extra.svixHeaders: true` sends the same signature
under the `svix-` header names.
"""
import json
import sys
from datetime import datetime, timezone

from standardwebhooks import Webhook

inp = json.load(sys.stdin)
extra = inp.get("extra") or {}
body = inp["body"]
msg_id = extra.get("msgId", "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W")
ts = int(inp["timestamp"])
signature = Webhook(inp["secret"]).sign(msg_id, datetime.fromtimestamp(ts, tz=timezone.utc), body)
prefix = "svix-" if extra.get("svixHeaders") else "webhook-"
headers = {
    "Content-Type": "application/json",
    prefix + "id": msg_id,
    prefix + "timestamp": str(ts),
    prefix + "signature": signature,
}
print(json.dumps({"headers": headers, "body": body, "url": inp["url"]}))
