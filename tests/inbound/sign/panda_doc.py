"""Signs a webhook as PandaDoc does. PandaDoc has no signing library; this follows its documentation
(https://developers.pandadoc.com/docs/webhook-verification): the hex HMAC-SHA256 of the raw body keyed with the
webhook's shared key, `hmac.new(shared_key.encode(), body.encode(), hashlib.sha256).hexdigest()`, appended to the
URL PandaDoc posts to as the `signature` query parameter (`POST https://…/?signature=a1b2c3…`). No header carries it.
"""
import hashlib
import hmac
import json
import sys
from urllib.parse import urlencode

inp = json.load(sys.stdin)
body = inp["body"]
signature = hmac.new(inp["secret"].encode("utf-8"), body.encode("utf-8"), digestmod=hashlib.sha256).hexdigest()
url = inp["url"]
url += ("&" if "?" in url else "?") + urlencode({"signature": signature})
print(json.dumps({"headers": {"Content-Type": "application/json"}, "body": body, "url": url}))
