"""Twilio signer: the signature comes from twilio-python's RequestValidator (twilio 9.13.0), Twilio's official
helper library: X-Twilio-Signature = base64 HMAC-SHA1(auth token, URL + every POST parameter sorted by name,
name+value concatenated) via `compute_signature`. A JSON body is not signed as parameters: the URL carries
`bodySHA256` = `compute_hash(body)` (hex SHA-256) and only the URL is signed. Contract: tests/inbound/README.md.

extra (all optional): {"json": true|false} forces the JSON (bodySHA256) or the form mode (default: JSON when the
body starts with `{` or `[`); {"algorithm": "HMAC_SHA256"} signs in the SharedKey mode and announces it in
X-Twilio-Webhooks-Signature-Settings; {"headers": {...}} adds headers."""

import json
import os
import sys
from urllib.parse import parse_qsl, urlencode, urlsplit

# This file is named twilio.py: keep its own folder off the path so that `import twilio` finds the library.
_here = os.path.dirname(os.path.realpath(__file__))
sys.path = [p for p in sys.path if os.path.realpath(p or os.curdir) != _here]

from twilio.request_validator import RequestValidator  # noqa: E402


class Form(dict):
    """The POST parameters with repeated names kept (RequestValidator reads them through `getlist`)."""

    def __init__(self, pairs):
        super().__init__()
        for name, value in pairs:
            self.setdefault(name, []).append(value)

    def getlist(self, name):
        return self[name]


req = json.load(sys.stdin)
extra = req.get("extra") or {}
body, url = req["body"], req["url"]
validator = RequestValidator(req["secret"])
algorithm = extra.get("algorithm")

if extra.get("json", body.lstrip().startswith(("{", "["))):
    url += ("&" if urlsplit(url).query else "?") + urlencode({"bodySHA256": validator.compute_hash(body)})
    params = {}
else:
    params = Form(parse_qsl(body, keep_blank_values=True))

headers = {"X-Twilio-Signature": validator.compute_signature(url, params, algorithm)}
if algorithm:
    headers["X-Twilio-Webhooks-Signature-Settings"] = f"key=webhooks_sharedkey_test,algorithm={algorithm}"
headers.update(extra.get("headers") or {})
print(json.dumps({"headers": headers, "body": body, "url": url}))
