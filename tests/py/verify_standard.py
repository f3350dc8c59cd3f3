"""Verifies one received webhook with the official libraries: svix.webhooks.Webhook (svix-* or webhook-*
headers) and standardwebhooks.Webhook (webhook-* headers; svix-* ones are the same signature under another
name). Reads {"body", "headers", "secret"} on stdin; exits 0 when both accept it."""
import json
import sys

import standardwebhooks
from svix.webhooks import Webhook

inp = json.load(sys.stdin)
headers = {k.lower(): v for k, v in inp["headers"].items()}
body = inp["body"]

Webhook(inp["secret"]).verify(body, headers)
std_headers = {k.replace("svix-", "webhook-"): v for k, v in headers.items()}
# The body need not be JSON (an ingest cron source may send text).
standardwebhooks.Webhook(inp["secret"]).verify(body, std_headers, json_parse=False)
print("valid")
