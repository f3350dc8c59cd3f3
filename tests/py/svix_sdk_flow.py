"""Drives hookd with the official Svix Python SDK, unchanged, and checks every webhook it causes with
svix.webhooks.Webhook and standardwebhooks.Webhook.

usage: svix_sdk_flow.py BASE_URL TOKEN   (prints SDK FLOW OK and exits 0 on success)"""
import json
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import standardwebhooks
from svix.api import (
    ApplicationIn,
    EndpointIn,
    EndpointSecretRotateIn,
    EventTypeIn,
    MessageAttemptListAttemptedMessagesOptions,
    MessageGetOptions,
    MessageIn,
    RecoverIn,
    Svix,
    SvixOptions,
)
from svix.exceptions import HttpError
from svix.webhooks import Webhook

BASE, TOKEN = sys.argv[1], sys.argv[2]
WAIT = 20


class Receiver:
    """A loopback HTTP receiver that records requests and can be told to fail."""

    def __init__(self):
        self.got = []
        self.fail = False
        self.cond = threading.Condition()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["content-length"]))
                with outer.cond:
                    outer.got.append(({k.lower(): v for k, v in self.headers.items()}, body))
                    outer.cond.notify_all()
                    status = 500 if outer.fail else 200
                self.send_response(status)
                self.end_headers()
                self.wfile.write(b"received")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/webhook"

    def wait_for(self, n):
        with self.cond:
            ok = self.cond.wait_for(lambda: len(self.got) >= n, timeout=WAIT)
            assert ok, f"waited for {n} webhooks, got {len(self.got)}"
            return list(self.got)


def eventually(what, check):
    deadline = time.time() + WAIT
    while time.time() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def verify(headers, body, *secrets):
    """Both official libraries accept the webhook with each of `secrets`."""
    for secret in secrets:
        Webhook(secret).verify(body, headers)
        std = {k.replace("svix-", "webhook-"): v for k, v in headers.items()}
        standardwebhooks.Webhook(secret).verify(body, std)
    try:
        Webhook("whsec_" + "A" * 32).verify(body, headers)
    except Exception:
        pass
    else:
        raise AssertionError("a wrong secret verified")


svix = Svix(TOKEN, SvixOptions(server_url=BASE))
recv = Receiver()

app = svix.application.create(ApplicationIn(name="SDK app", uid="sdk-app", metadata={"k": "v"}))
assert app.id.startswith("app_") and app.uid == "sdk-app"
assert svix.application.get("sdk-app").id == app.id
assert any(a.id == app.id for a in svix.application.list().data)

et = svix.event_type.create(EventTypeIn(name="invoice.paid", description="An invoice was paid"))
assert et.name == "invoice.paid"

ep = svix.endpoint.create(app.id, EndpointIn(url=recv.url, event_types=["invoice.paid"], description="billing"))
assert ep.id.startswith("ep_") and ep.event_types == ["invoice.paid"]
secret = svix.endpoint.get_secret(app.id, ep.id).key

# Publish; the webhook arrives signed for both libraries.
msg = svix.message.create(app.id, MessageIn(event_type="invoice.paid", payload={"invoice": 42, "amount": "9.99"}, event_id="inv-42"))
assert msg.id.startswith("msg_")
headers, body = recv.wait_for(1)[0]
assert headers["svix-id"] == msg.id
assert json.loads(body) == {"invoice": 42, "amount": "9.99"}
verify(headers, body, secret)

# A repeated eventId is a conflict.
try:
    svix.message.create(app.id, MessageIn(event_type="invoice.paid", payload={}, event_id="inv-42"))
    raise AssertionError("duplicate eventId accepted")
except HttpError as e:
    assert e.status_code == 409, e.status_code

# Attempts, as the SDK lists them.
attempts = eventually("the attempt", lambda: svix.message_attempt.list_by_msg(app.id, msg.id).data)
assert attempts[0].response_status_code == 200 and attempts[0].status == 0, attempts[0]
assert attempts[0].endpoint_id == ep.id and attempts[0].msg_id == msg.id
by_ep = svix.message_attempt.list_by_endpoint(app.id, ep.id).data
assert [a.id for a in by_ep] == [attempts[0].id]
assert svix.message_attempt.get(app.id, msg.id, attempts[0].id).id == attempts[0].id
dest = svix.message_attempt.list_attempted_destinations(app.id, msg.id).data
assert dest[0].id == ep.id and dest[0].status == 0
# SDK v2 asks for content explicitly (with_content defaults to false).
assert svix.message.get(app.id, msg.id).payload == {}
got = svix.message.get(app.id, msg.id, MessageGetOptions(with_content=True))
assert got.payload == {"invoice": 42, "amount": "9.99"}, got
assert [m.id for m in svix.message.list(app.id).data] == [msg.id]

# Rotate: the new key signs, and the old one keeps signing through its grace period.
new_secret = svix.endpoint.rotate_secret(app.id, ep.id, EndpointSecretRotateIn()).key
assert new_secret != secret and svix.endpoint.get_secret(app.id, ep.id).key == new_secret
msg2 = svix.message.create(app.id, MessageIn(event_type="invoice.paid", payload={"invoice": 43}))
headers, body = recv.wait_for(2)[1]
assert headers["svix-id"] == msg2.id
verify(headers, body, new_secret, secret)

# A message that fails every attempt is a dead letter; recover sends it again.
recv.fail = True
start = datetime.now(timezone.utc) - timedelta(seconds=1)
msg3 = svix.message.create(app.id, MessageIn(event_type="invoice.paid", payload={"invoice": 44}))
failed_opts = MessageAttemptListAttemptedMessagesOptions(status=2)
eventually("the dead letter", lambda: [m for m in svix.message_attempt.list_attempted_messages(app.id, ep.id, failed_opts).data if m.id == msg3.id])
n_before = len(recv.got)
recv.fail = False
task = svix.endpoint.recover(app.id, ep.id, RecoverIn(since=start))
assert task.task == "endpoint.recover"
got = recv.wait_for(n_before + 1)
headers, body = got[-1]
assert headers["svix-id"] == msg3.id
verify(headers, body, new_secret)
eventually("the recovered delivery to succeed", lambda: svix.message_attempt.list_attempted_destinations(app.id, msg3.id).data[0].status == 0)

svix.endpoint.delete(app.id, ep.id)
svix.application.delete(app.id)
print("SDK FLOW OK")
