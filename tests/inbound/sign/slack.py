"""Slack signer: the signature comes from slack_sdk's SignatureVerifier.generate_signature, Slack's official
SDK (X-Slack-Signature: v0=<hex HMAC-SHA256 of "v0:{timestamp}:{body}">, X-Slack-Request-Timestamp).
Contract: tests/inbound/README.md."""

import json
import sys

from slack_sdk.signature import SignatureVerifier

req = json.load(sys.stdin)
timestamp = str(req["timestamp"])
signature = SignatureVerifier(req["secret"]).generate_signature(timestamp=timestamp, body=req["body"])
headers = {"X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": signature}
headers.update((req.get("extra") or {}).get("headers") or {})
print(json.dumps({"headers": headers, "body": req["body"], "url": req["url"]}))
