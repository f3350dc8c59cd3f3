"""Signs a request as the `salesforce` provider expects.

Salesforce has no official library that signs webhooks (it has no HMAC-signed webhook at all); this follows the
seed's description with Python's hmac: `X-Salesforce-Event-Signature: sha256=<hex HMAC-SHA256(raw body)>`, keyed
with the webhook secret as UTF-8. No timestamp is signed. `extra.eventId` (optional) is sent as
`X-Salesforce-Event-Id`.
"""
import hashlib
import hmac
import json
import sys

inp = json.load(sys.stdin)
body = inp["body"]
extra = inp.get("extra") or {}
sig = hmac.new(inp["secret"].encode(), body.encode(), hashlib.sha256).hexdigest()
headers = {"Content-Type": "application/json", "X-Salesforce-Event-Signature": "sha256=" + sig}
if extra.get("eventId"):
    headers["X-Salesforce-Event-Id"] = extra["eventId"]
print(json.dumps({"headers": headers, "body": body, "url": inp["url"]}))
