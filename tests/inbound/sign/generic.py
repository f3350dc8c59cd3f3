"""Signs a request for the `generic` provider.

There is no official library for a data-described scheme: this implements the scheme with Python's hmac, reading it
from `extra.scheme` (the same object as the case's `providerConfig.generic`): `signedContent` with `{body}`,
`{timestamp}`, `{id}`, `{url}` filled in, HMAC with `algorithm` keyed per `keyEncoding`, written in `encoding`
after `prefix` into `header`; `timestampHeader` and `idHeader` are sent when set (`extra.id` is the id).
"""
import base64
import hashlib
import hmac
import json
import sys

inp = json.load(sys.stdin)
extra = inp.get("extra") or {}
scheme = extra["scheme"]
body = inp["body"]
ts = str(int(inp["timestamp"]))
msg_id = extra.get("id", "evt_generic_1")

secret = inp["secret"]
key_encoding = scheme.get("keyEncoding", "utf8")
if key_encoding == "utf8":
    key = secret.encode()
elif key_encoding == "base64":
    key = base64.b64decode(secret + "==")
elif key_encoding == "whsec":
    key = base64.b64decode(secret.removeprefix("whsec_") + "==")
elif key_encoding == "hex":
    key = bytes.fromhex(secret)
else:
    raise SystemExit(f"unknown keyEncoding {key_encoding}")

content = scheme.get("signedContent", "{body}")
for name, value in (("{timestamp}", ts), ("{id}", msg_id), ("{url}", inp["url"]), ("{body}", body)):
    content = content.replace(name, value)
digest = hmac.new(key, content.encode(), getattr(hashlib, scheme.get("algorithm", "sha256"))).digest()
sig = base64.b64encode(digest).decode() if scheme.get("encoding", "hex") == "base64" else digest.hex()

headers = {"Content-Type": "application/json", scheme["header"]: scheme.get("prefix", "") + sig}
if scheme.get("timestampHeader"):
    headers[scheme["timestampHeader"]] = ts
if scheme.get("idHeader"):
    headers[scheme["idHeader"]] = msg_id
print(json.dumps({"headers": headers, "body": body, "url": inp["url"]}))
