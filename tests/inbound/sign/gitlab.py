"""GitLab signer. GitLab's classic webhooks are not signed and there is no signing library: per GitLab's
documentation (https://docs.gitlab.com/user/project/integrations/webhooks/#validate-requests-with-a-secret-token)
the webhook's secret token is sent as is in the X-Gitlab-Token header, so that is all this does for a plain
secret (`timestamp` is then ignored: GitLab sends none).

For a `whsec_…` secret it signs as GitLab's newer signing token does (feature flag `webhook_signing_token`,
gitlab-org/gitlab!230944): Standard Webhooks headers webhook-id (= Idempotency-Key), webhook-timestamp and
webhook-signature, the signature made by the official `standardwebhooks` library's `Webhook.sign`.
Contract: tests/inbound/README.md."""

import json
import sys
import uuid
from datetime import datetime, timezone

req = json.load(sys.stdin)
extra_headers = (req.get("extra") or {}).get("headers") or {}
secret = req["secret"]

if secret.startswith("whsec_"):
    from standardwebhooks import Webhook

    msg_id = extra_headers.get("Idempotency-Key") or str(uuid.uuid4())
    when = datetime.fromtimestamp(int(req["timestamp"]), tz=timezone.utc)
    headers = {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(req["timestamp"])),
        "webhook-signature": Webhook(secret).sign(msg_id, when, req["body"]),
        "Idempotency-Key": msg_id,
    }
else:
    headers = {"X-Gitlab-Token": secret}
headers.update(extra_headers)
print(json.dumps({"headers": headers, "body": req["body"], "url": req["url"]}))
