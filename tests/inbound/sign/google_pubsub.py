"""Signs a Pub/Sub push request as Google does, with PyPI `google-auth`:
`google.auth.crypt.RSASigner.from_string(private_pem, key_id)` + `google.auth.jwt.encode(signer, claims)` → an RS256
JWT with `kid`, sent as `Authorization: Bearer <JWT>`. The claims are those of a push subscription's OIDC token:
`iss` https://accounts.google.com, `aud` (the subscription's audience), `email`/`email_verified` of its service
account, `sub`, `azp`, `iat` = the timestamp, `exp` = `iat` + `extra.lifetime`.

`extra`: `privateKey` (PEM), `kid`, `audience`, `email` (optional), `issuer` (optional), `lifetime` (seconds,
default 600: Google's tokens live 3600 s, a shorter life makes the suite's hour-old token an expired one).
The JWT covers no part of the body: Pub/Sub push authenticates the sender only.

The RSA key is not a shared secret: it is used only when the given secret equals `extra.secret`; any other secret
signs with a freshly generated key under the same `kid` (a key Google does not have).
"""
import json
import sys

from google.auth import crypt, jwt

inp = json.load(sys.stdin)
extra = inp.get("extra") or {}
ts = int(inp["timestamp"])
kid = extra.get("kid", "hookd-test-key-1")
if "privateKey" in extra and inp.get("secret") == extra.get("secret"):
    private_pem = extra["privateKey"]
else:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = other.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()

claims = {
    "aud": extra.get("audience", inp["url"]),
    "azp": "113400000000000000001",
    "email_verified": True,
    "exp": ts + int(extra.get("lifetime", 600)),
    "iat": ts,
    "iss": extra.get("issuer", "https://accounts.google.com"),
    "sub": "113400000000000000001",
}
if extra.get("email"):
    claims["email"] = extra["email"]
signer = crypt.RSASigner.from_string(private_pem, kid)
token = jwt.encode(signer, claims).decode()
headers = {"Content-Type": "application/json", "Authorization": "Bearer " + token}
print(json.dumps({"headers": headers, "body": inp["body"], "url": inp["url"]}))
