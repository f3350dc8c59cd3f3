"""Stripe signer: the header comes from stripe-python's WebhookSignature.generate_signature_header (stripe
16.1.0; "useful for signing payloads in unit tests"): Stripe-Signature: t={timestamp},v1=<hex HMAC-SHA256 of
"{timestamp}.{body}" keyed with the whole whsec_ string>. Contract: tests/inbound/README.md."""

import json
import os
import sys

# This file is named stripe.py: keep its own folder off the path so that `import stripe` finds the library.
_here = os.path.dirname(os.path.realpath(__file__))
sys.path = [p for p in sys.path if os.path.realpath(p or os.curdir) != _here]

import stripe  # noqa: E402

req = json.load(sys.stdin)
header = stripe.WebhookSignature.generate_signature_header(
    payload=req["body"], secret=req["secret"], timestamp=int(req["timestamp"])
)
headers = {"Stripe-Signature": header}
headers.update((req.get("extra") or {}).get("headers") or {})
print(json.dumps({"headers": headers, "body": req["body"], "url": req["url"]}))
