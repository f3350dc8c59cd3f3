"""An agent's flows against hookd's MCP server, with the official MCP client library (PyPI `mcp`).

Reads from stdin: {"transport": "stdio"|"http", "hookd": path, "base": url, "token", "app", "timer_webhook",
"foreign_timer", "registration", "destination"}. Lists the tools, creates a timer and waits for its expiry notification, sends a
message and reads its attempts, finds the failed delivery and resends it, finds a destination stuck retrying and
retries it now, replays a received GitHub event, and is refused another organization's timer.
Prints "mcp flow ok" and exits 0 when every step held."""

import asyncio
import json
import logging
import sys
import time
from datetime import datetime, timedelta, timezone

from standardwebhooks import Webhook

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

WAIT = 20.0
cfg = json.load(sys.stdin)
updated = asyncio.Queue()


async def on_message(message):
    if isinstance(message, Exception):
        return
    root = getattr(message, "root", message)
    if getattr(root, "method", None) == "notifications/resources/updated":
        await updated.put(root.params.uri)


def body(result):
    return "".join(getattr(c, "text", "") for c in result.content)


async def tool(session, name, args, ok=True):
    result = await session.call_tool(name, args)
    want_error = ok is False
    assert bool(result.is_error) == want_error, f"{name}({args}) isError={result.is_error}: {body(result)}"
    return json.loads(body(result)) if ok else body(result)


async def until(what, check):
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        got = await check()
        if got:
            return got
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


async def flow(session):
    await session.initialize()
    names = {t.name for t in (await session.list_tools()).tools}
    expected = {"create_timer", "get_timer", "list_timers", "cancel_timer", "pause_timer", "resume_timer",
                "quick_wait", "send_message", "get_message", "list_failed_deliveries", "resend",
                "recover_endpoint", "list_inbound_events", "replay_inbound_event", "verify_signature",
                "list_destinations", "retry_destination"}
    assert expected <= names, f"missing tools: {expected - names}"
    create = next(t for t in (await session.list_tools()).tools if t.name == "create_timer")
    assert "every" in create.input_schema["properties"] and "cron" in create.input_schema["properties"]

    # Bad arguments are tool errors an agent can act on.
    why = await tool(session, "create_timer", {"duration": "soon"}, ok=False)
    assert "duration" in why, why
    why = await tool(session, "get_timer", {"id": 5}, ok=False)
    assert "expected a string" in why, why
    why = await tool(session, "send_message", {"application": "app_x"}, ok=False)
    assert "event_type" in why, why

    # A timer: subscribe to it, and be told when it fires.
    timer = await tool(session, "create_timer", {"name": "deploy reminder", "duration": "1s",
                                                 "webhook": cfg["timer_webhook"], "message": "check the deploy"})
    uri = f"hookd://timers/{timer['id']}"
    await session.subscribe_resource(uri)
    got = await asyncio.wait_for(updated.get(), WAIT)
    assert got == uri, got
    fired = await tool(session, "get_timer", {"id": timer["id"]})
    assert fired["status"] == "expired", fired
    listed = await tool(session, "list_timers", {"status": "expired"})
    assert timer["id"] in [t["id"] for t in listed["timers"]]
    read = await session.read_resource(uri)
    assert json.loads(read.contents[0].text)["status"] == "expired"

    # Pause, resume and cancel a recurring timer.
    every = await tool(session, "create_timer", {"name": "heartbeat", "every": "1h"})
    assert (await tool(session, "pause_timer", {"id": every["id"]}))["status"] == "paused"
    assert (await tool(session, "resume_timer", {"id": every["id"]}))["status"] == "running"
    assert (await tool(session, "cancel_timer", {"id": every["id"], "reason": "done"}))["status"] == "cancelled"

    # A message whose first deliveries fail (the receiver answers 500 three times): read its attempts, find the
    # failed delivery, resend it and see it succeed.
    msg = await tool(session, "send_message", {"application": cfg["app"], "event_type": "deploy.finished",
                                               "payload": {"ok": True}})
    # Followed with the watch tool (resources/subscribe is what the timer above used).
    msg_uri = f"hookd://apps/{cfg['app']}/messages/{msg['id']}"
    assert msg_uri in await tool(session, "watch", {"uri": msg_uri}, ok=None)

    async def failed():
        found = await tool(session, "list_failed_deliveries", {"application": cfg["app"]})
        mine = [a for a in found["failed"] if a["msgId"] == msg["id"]]
        return mine if len(mine) >= 3 else None  # the first try and both retries

    attempts = await until("the failed delivery", failed)
    endpoint = attempts[0]["endpointId"]
    await tool(session, "resend", {"application": cfg["app"], "message_id": msg["id"], "endpoint_id": endpoint})

    async def delivered():
        m = await tool(session, "get_message", {"application": cfg["app"], "message_id": msg["id"]})
        return m if any(a["status"] == 0 for a in m["attempts"]) else None

    m = await until("the resent delivery", delivered)
    # The message's changes were notified, the successful resend among them.
    while True:
        if await asyncio.wait_for(updated.get(), WAIT) != msg_uri:
            continue
        now = json.loads((await session.read_resource(msg_uri)).contents[0].text)
        if any(a["status"] == 0 for a in now["attempts"]):
            break
    assert m["message"]["eventType"] == "deploy.finished"
    assert any(a["status"] == 2 for a in m["attempts"]), m["attempts"]

    # The application's FIFO destination failed its batch three times (its receiver answered 500) and now waits
    # ten minutes: the agent finds it retrying, with the reason, retries it now and sees it catch up.
    async def stuck():
        found = await tool(session, "list_destinations", {"application": cfg["app"]})
        d = next(d for d in found["destinations"] if d["id"] == cfg["destination"])
        due = d["nextRetryAt"] and datetime.fromisoformat(d["nextRetryAt"].replace("Z", "+00:00"))
        return d if d["status"] == "retrying" and due and due > datetime.now(timezone.utc) + timedelta(minutes=5) else None

    d = await until("the destination's long retry wait", stuck)
    assert d["type"] == "fifoEndpoint" and d["lag"] >= 1 and "500" in d["failureReason"], d
    done = await tool(session, "retry_destination", {"application": cfg["app"], "destination_id": d["id"]})
    assert done == {"retrying": True}, done

    async def caught_up():
        found = await tool(session, "list_destinations", {"application": cfg["app"]})
        d = next(d for d in found["destinations"] if d["id"] == cfg["destination"])
        return d if d["status"] == "enabled" and d["lag"] == 0 else None

    await until("the destination caught up", caught_up)
    why = await tool(session, "retry_destination", {"application": cfg["app"], "destination_id": "dst_nope"}, ok=False)
    assert "404" in why, why

    # Resources: the application and its endpoint can be browsed.
    resources = [r.uri for r in (await session.list_resources()).resources]
    assert f"hookd://apps/{cfg['app']}" in resources, resources
    assert f"hookd://apps/{cfg['app']}/endpoints/{endpoint}" in resources, resources

    # Another organization's timer is not there for this token.
    why = await tool(session, "get_timer", {"id": cfg["foreign_timer"]}, ok=False)
    assert "404" in why, why
    why = await tool(session, "watch", {"uri": f"hookd://timers/{cfg['foreign_timer']}"}, ok=False)
    assert "404" in why, why
    why = await tool(session, "cancel_timer", {"id": cfg["foreign_timer"]}, ok=False)
    assert "404" in why, why

    # The other timer and message tools.
    wait = await tool(session, "quick_wait", {"duration": "1h", "webhook": cfg["timer_webhook"]})
    assert wait["status"] == "running", wait
    assert (await tool(session, "cancel_timer", {"id": wait["id"]}))["status"] == "cancelled"
    since = (datetime.now(timezone.utc) - timedelta(hours=1)).isoformat()
    await tool(session, "recover_endpoint", {"application": cfg["app"], "endpoint_id": endpoint, "since": since})
    registrations = await tool(session, "list_inbound_events", {})
    ids = [w["id"] for w in registrations["webhooks"]]
    assert ids == [cfg["registration"]], registrations
    events = await tool(session, "list_inbound_events", {"registration_id": cfg["registration"]})
    assert len(events["data"]) == 1, events
    replayed = await tool(session, "replay_inbound_event",
                          {"registration_id": cfg["registration"], "event_id": events["data"][0]["id"]})
    assert replayed, replayed
    why = await tool(session, "replay_inbound_event", {"registration_id": "whin_nope", "event_id": "x"}, ok=False)
    assert "404" in why, why

    # verify_signature: hookd's own verifiers, on a request signed by the Standard Webhooks library.
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    now = datetime.now(timezone.utc)
    signature = Webhook(secret).sign("msg_1", now, '{"a":1}')
    headers = {"webhook-id": "msg_1", "webhook-timestamp": str(int(now.timestamp())), "webhook-signature": signature}
    assert "verified" in await tool(session, "verify_signature", {"secret": secret, "headers": headers, "body": '{"a":1}'}, ok=None)
    why = await tool(session, "verify_signature", {"secret": secret, "headers": headers, "body": '{"a":2}'}, ok=False)
    assert "does not verify" in why, why
    why = await tool(session, "verify_signature", {"secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
                                                   "headers": {"webhook-id": "x"}, "body": "{}"}, ok=False)
    assert "does not verify" in why, why


class Warnings(logging.Handler):
    """What the MCP client library warns about (a session it could not end, …)."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.seen = []

    def emit(self, record):
        self.seen.append(record.getMessage())


async def main():
    warnings = Warnings()
    logging.getLogger("mcp").addHandler(warnings)
    if cfg["transport"] == "stdio":
        params = StdioServerParameters(command=cfg["hookd"], args=["mcp", "--url", cfg["base"], "--token", cfg["token"]])
        async with stdio_client(params) as (read, write):
            async with ClientSession(read, write, message_handler=on_message) as session:
                await flow(session)
    else:
        client = create_mcp_http_client(headers={"Authorization": f"Bearer {cfg['token']}"})
        async with client, streamable_http_client(f"{cfg['base']}/mcp", http_client=client) as streams:
            async with ClientSession(streams[0], streams[1], message_handler=on_message) as session:
                await flow(session)
    # Leaving the client ended the session with a DELETE, which the library takes as done only on 200 or 204.
    assert not [w for w in warnings.seen if "termination" in w], warnings.seen
    print("mcp flow ok")


asyncio.run(main())
