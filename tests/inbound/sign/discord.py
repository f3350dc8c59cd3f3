"""Signs an interaction as Discord does, with PyPI `pynacl`: `nacl.signing.SigningKey(seed).sign(timestamp + body)`,
sent as `X-Signature-Ed25519: <hex signature>` and `X-Signature-Timestamp: <timestamp>`.

Discord's key pair is not a shared secret: `extra.seed` is the 32-byte Ed25519 seed (hex) whose public key the case
registers as `providerConfig.publicKey`. So that the suite's "wrong secret" check means something, the seed is used
only when the given secret equals `extra.secret`; any other secret signs with a key derived from it
(SHA-256 of the secret), i.e. a key Discord's application does not have.
"""
import hashlib
import json
import sys

from nacl.signing import SigningKey

inp = json.load(sys.stdin)
extra = inp.get("extra") or {}
body = inp["body"]
ts = str(int(inp["timestamp"]))
if "seed" in extra and inp.get("secret") == extra.get("secret"):
    seed = bytes.fromhex(extra["seed"])
else:
    seed = hashlib.sha256((inp.get("secret") or "").encode()).digest()
signed = SigningKey(seed).sign((ts + body).encode())
headers = {
    "Content-Type": "application/json",
    "X-Signature-Ed25519": signed.signature.hex(),
    "X-Signature-Timestamp": ts,
}
print(json.dumps({"headers": headers, "body": body, "url": inp["url"]}))
