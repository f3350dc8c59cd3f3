"""Signs a webhook as Telnyx does, with PyPI `pynacl`: `nacl.signing.SigningKey(seed).sign(f"{timestamp}|{body}")`,
sent as `telnyx-signature-ed25519: <base64 signature>` and `telnyx-timestamp: <unix seconds>`
(https://developers.telnyx.com/docs/development/sdk/python/webhooks). Then Telnyx's official Python SDK (PyPI
`telnyx`, `telnyx.lib.webhook_verification.verify_webhook_signature`) checks what is sent with the public key of the
seed used: it must accept it when the timestamp is within its 300 s, and refuse it as too old otherwise.

Telnyx's key pair is not a shared secret: `extra.seed` is the 32-byte Ed25519 seed (hex) whose public key the case
registers as `providerConfig.publicKey` (base64). So that the suite's "wrong secret" check means something, the seed
is used only when the given secret equals `extra.secret`; any other secret signs with a key derived from it
(SHA-256 of the secret), i.e. a key the Telnyx account does not have.
"""
import base64
import hashlib
import json
import os
import sys
import time

_here = os.path.dirname(os.path.realpath(__file__))
sys.path = [p for p in sys.path if os.path.realpath(p or os.curdir) != _here]

from nacl.signing import SigningKey  # noqa: E402
from telnyx.lib.webhook_verification import WebhookVerificationError, verify_webhook_signature  # noqa: E402

inp = json.load(sys.stdin)
extra = inp.get("extra") or {}
body = inp["body"]
ts = str(int(inp["timestamp"]))
if "seed" in extra and inp.get("secret") == extra.get("secret"):
    seed = bytes.fromhex(extra["seed"])
else:
    seed = hashlib.sha256((inp.get("secret") or "").encode()).digest()
key = SigningKey(seed)
signed = key.sign(f"{ts}|{body}".encode())
headers = {
    "Content-Type": "application/json",
    "telnyx-signature-ed25519": base64.b64encode(signed.signature).decode(),
    "telnyx-timestamp": ts,
}

# The official SDK's verdict on exactly what is sent.
public = base64.b64encode(bytes(key.verify_key)).decode()
fresh = abs(int(time.time()) - int(ts)) <= 300
try:
    verify_webhook_signature(body, headers, public)
    accepted = True
except WebhookVerificationError as e:
    accepted = False
    why = str(e)
if fresh and not accepted:
    sys.exit(f"telnyx SDK refused the signed request: {why}")
if not fresh and accepted:
    sys.exit("telnyx SDK accepted a stale timestamp")
if fresh:
    # and refuses it with one more byte of body
    try:
        verify_webhook_signature(body + " ", headers, public)
        sys.exit("telnyx SDK accepted a changed body")
    except WebhookVerificationError:
        pass
print(json.dumps({"headers": headers, "body": body, "url": inp["url"]}))
