"""Signs one request per data preset, independently of hookd: each provider's scheme is written out below from
its documentation (the URL beside each), or made by the provider's official library where one is installed
(stripe-python, svix, standardwebhooks, slack_sdk). Nothing here reads src/inbound/providers/presets.toml.

stdin: {"secret": "...", "url": "...", "now": 1700000000}
stdout: {"cases": [{"preset", "secret", "body", "headers", "url", "signer", "stale": {headers} | null,
                    "bodySigned": bool}]}
`stale` is the same request signed with a timestamp two hours old (for presets whose provider signs one).
"""

import base64
import hashlib
import hmac
import json
import os
import sys
from datetime import datetime, timezone
from email.utils import formatdate

_here = os.path.dirname(os.path.realpath(__file__))
sys.path = [p for p in sys.path if os.path.realpath(p or os.curdir) != _here]

import stripe  # noqa: E402
from slack_sdk.signature import SignatureVerifier  # noqa: E402
from standardwebhooks import Webhook as StandardWebhook  # noqa: E402
from svix.webhooks import Webhook as SvixWebhook  # noqa: E402
import jwt  # noqa: E402  (PyJWT, which monday's documentation points to)

inp = json.load(sys.stdin)
URL = inp["url"]
NOW = int(inp["now"])
STALE = NOW - 7200

BODY = json.dumps(
    {
        "id": "evt_1OkQ2",
        "type": "invoice.paid",
        "event": "invoice.paid",
        "action": "opened",
        "data": {"id": "in_42", "object": {"id": "in_42"}},
        "note": "caf\u00e9 \u2014 unicode and \"quotes\"",
    },
    separators=(",", ":"),
    ensure_ascii=False,
)


def mac(alg, key, msg):
    if isinstance(key, str):
        key = key.encode()
    if isinstance(msg, str):
        msg = msg.encode()
    return hmac.new(key, msg, alg).digest()


def hx(b):
    return b.hex()


def b64(b):
    return base64.b64encode(b).decode()


def iso(ts):
    return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


S256, S1, S512 = hashlib.sha256, hashlib.sha1, hashlib.sha512

# Secrets in the shape each provider issues them.
WHSEC = "whsec_" + b64(b"an independent test key for svix")
HEX_KEY = "44782DEF547AAA06C910C43932B1EB0C71FC68D9D0C057550C48EC2ACF6BA056"
B64_KEY = b64(b"teams outgoing webhook key 32b!!")


# Each signer: (secret) -> (ts) -> (headers, body, url). `ts` is None for providers that sign no timestamp.
def body_hex(header, alg=S256, prefix=""):
    # https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries and the rows of the
    # catalog (shared/PROVIDERS.md) citing each provider's page: HMAC of the raw body, hex, optional prefix.
    return lambda s, ts: ({header: prefix + hx(mac(alg, s, BODY))}, BODY, URL)


def body_b64(header, alg=S256, prefix="", key=lambda s: s.encode()):
    return lambda s, ts: ({header: prefix + b64(mac(alg, key(s), BODY))}, BODY, URL)


def kv(header, fmt, msg, unit=1):
    # `t=..,v1=..` families: fmt formats (ts, sig); msg builds the signed string from (ts, body).
    def sign(s, ts):
        t = str(ts * unit)
        return ({header: fmt(t, hx(mac(S256, s, msg(t, BODY))))}, BODY, URL)

    return sign


def stripe_lib(s, ts):
    # stripe-python's own signer ("useful for signing payloads in unit tests").
    return ({"Stripe-Signature": stripe.WebhookSignature.generate_signature_header(BODY, s, ts)}, BODY, URL)


def slack_lib(s, ts):
    sig = SignatureVerifier(s).generate_signature(timestamp=str(ts), body=BODY)
    return ({"X-Slack-Signature": sig, "X-Slack-Request-Timestamp": str(ts)}, BODY, URL)


def svix_lib(s, ts):
    when = datetime.fromtimestamp(ts, tz=timezone.utc)
    sig = SvixWebhook(s).sign("msg_2Lbyf9", when, BODY)
    return ({"svix-id": "msg_2Lbyf9", "svix-timestamp": str(ts), "svix-signature": sig}, BODY, URL)


def standard_lib(s, ts):
    when = datetime.fromtimestamp(ts, tz=timezone.utc)
    sig = StandardWebhook(s).sign("msg_2Lbyf9", when, BODY)
    return ({"webhook-id": "msg_2Lbyf9", "webhook-timestamp": str(ts), "webhook-signature": sig}, BODY, URL)


def loops(s, ts):
    # Standard Webhooks, the key being the base64 after the secret's prefix.
    key = base64.b64decode(s.split("_")[-1])
    sig = b64(mac(S256, key, f"msg_9.{ts}.{BODY}"))
    return ({"webhook-id": "msg_9", "webhook-timestamp": str(ts), "webhook-signature": f"v1,{sig}"}, BODY, URL)


def token(header, prefix=""):
    return lambda s, ts: ({header: prefix + s}, BODY, URL)


def graph_body(client_state):
    # https://learn.microsoft.com/en-us/graph/change-notifications-delivery-webhooks: a batch of notifications,
    # each carrying the clientState given when the subscription was created.
    notification = {"subscriptionId": "7f105c7d-2dc5-4530-97cd-4e7ae6534c07",
                    "subscriptionExpirationDateTime": "2023-11-20T18:23:45.9356913+00:00",
                    "changeType": "created", "resource": "Users/{user-id}/Messages/{message-id}",
                    "resourceData": {"@odata.type": "#Microsoft.Graph.Message", "id": "AAMk1"},
                    "tenantId": "84bd8158-6d4d-4958-8b9f-9d6445542f95"}
    with_state = [dict(notification, clientState=client_state) for _ in range(2)]
    if client_state is None:
        with_state = [notification]
    return json.dumps({"value": with_state}, separators=(",", ":"))


def graph(s, ts):
    return ({"Content-Type": "application/json"}, graph_body(s), URL)


def monday(s, ts):
    # https://developer.monday.com/apps/docs/authorization-header: a JWT signed with the app's Signing Secret,
    # with exp (checked) and aud (the endpoint's URL); it does not cover the body.
    claims = {"accountId": 1825528, "userId": 4012689, "aud": URL, "iat": ts, "exp": ts + 300,
              "shortLivedToken": "SHORT_LIVED_TOKEN"}
    return ({"Authorization": jwt.encode(claims, s, algorithm="HS256")}, BODY, URL)


def basic(s, ts):
    return ({"Authorization": "Basic " + b64(s.encode())}, BODY, URL)


def twitch(s, ts):
    # https://dev.twitch.tv/docs/eventsub/handling-webhook-events/: id + timestamp + body, sha256= hex.
    t = iso(ts).replace("Z", ".123456789Z")
    mid = "e76c6bd4-55c9-4987-8304-da1588d8988b"
    sig = "sha256=" + hx(mac(S256, s, mid + t + BODY))
    return ({"Twitch-Eventsub-Message-Id": mid, "Twitch-Eventsub-Message-Timestamp": t,
             "Twitch-Eventsub-Message-Signature": sig, "Twitch-Eventsub-Message-Type": "notification"}, BODY, URL)


def zendesk(s, ts):
    # https://developer.zendesk.com/documentation/webhooks/verifying/: base64 HMAC-SHA256 of timestamp + body.
    t = iso(ts)
    return ({"X-Zendesk-Webhook-Signature": b64(mac(S256, s, t + BODY)),
             "X-Zendesk-Webhook-Signature-Timestamp": t}, BODY, URL)


def webflow(s, ts):
    # https://developers.webflow.com/data/docs/working-with-webhooks: hex HMAC-SHA256 of "{ms}:{body}".
    t = str(ts * 1000)
    return ({"x-webflow-signature": hx(mac(S256, s, f"{t}:{BODY}")), "x-webflow-timestamp": t}, BODY, URL)


def airwallex(s, ts):
    # https://www.airwallex.com/docs/developer-tools/webhooks/listen-for-webhook-events: hex HMAC of ms + body.
    t = str(ts * 1000)
    return ({"x-signature": hx(mac(S256, s, t + BODY)), "x-timestamp": t}, BODY, URL)


def box(s, ts):
    # https://developer.box.com/guides/webhooks/v2/signatures-v2/: base64 HMAC-SHA256 of body + timestamp;
    # the primary key signs the primary header, the secondary key the secondary one.
    t = iso(ts).replace("Z", "-00:00")
    return ({"BOX-SIGNATURE-PRIMARY": b64(mac(S256, s, BODY + t)),
             "BOX-SIGNATURE-SECONDARY": b64(mac(S256, "another secondary key", BODY + t)),
             "BOX-DELIVERY-TIMESTAMP": t, "BOX-SIGNATURE-VERSION": "1",
             "BOX-SIGNATURE-ALGORITHM": "HmacSHA256"}, BODY, URL)


def hubspot(s, ts):
    # https://developers.hubspot.com/docs/guides/apps/authentication/validating-requests (v3): base64
    # HMAC-SHA256 of method + URI + body + timestamp (ms).
    t = str(ts * 1000)
    return ({"X-HubSpot-Signature-v3": b64(mac(S256, s, "POST" + URL + BODY + t)),
             "X-HubSpot-Request-Timestamp": t}, BODY, URL)


def square(s, ts):
    # https://developer.squareup.com/docs/webhooks/step3validate: base64 HMAC-SHA256 of notification URL + body.
    return ({"x-square-hmacsha256-signature": b64(mac(S256, s, URL + BODY))}, BODY, URL)


def trello(s, ts):
    # https://developer.atlassian.com/cloud/trello/guides/rest-api/webhooks/: base64 HMAC-SHA1 of body +
    # callbackURL (Trello's example does it as content + callbackURL).
    return ({"X-Trello-Webhook": b64(mac(S1, s, BODY + URL))}, BODY, URL)


def merge(s, ts):
    # https://docs.merge.dev/basics/webhooks/merge-webhooks: HMAC-SHA256 of the raw body with the signature key,
    # URL-safe base64 (base64.urlsafe_b64encode, as Merge's example).
    sig = base64.urlsafe_b64encode(mac(S256, s, BODY)).decode()
    return ({"X-Merge-Webhook-Signature": sig}, BODY, URL)


def easypost(s, ts):
    # https://docs.easypost.com/guides/webhooks-guide (and its libraries' validate_webhook): HMAC-SHA256 of the
    # body keyed by the NFKD-normalized webhook_secret, hex, as "hmac-sha256-hex=<hex>".
    import unicodedata

    key = unicodedata.normalize("NFKD", s).encode()
    return ({"X-Hmac-Signature": "hmac-sha256-hex=" + hx(mac(S256, key, BODY))}, BODY, URL)


def port_io(s, ts):
    # https://docs.port.io/actions-and-automations/setup-backend/webhook/signature-verification/: base64
    # HMAC-SHA256 of "{x-port-timestamp}.{body}" with the client secret, sent as "v1,<base64>".
    sig = "v1," + b64(mac(S256, s, f"{ts}.{BODY}"))
    return ({"x-port-timestamp": str(ts), "x-port-signature": sig}, BODY, URL)


FORM = "mandrill_events=%5B%7B%22event%22%3A%22send%22%2C%22_id%22%3A%22abc%22%7D%5D&a=1"


def mandrill(s, ts):
    # https://mailchimp.com/developer/transactional/guides/track-respond-activity-webhooks/: base64 HMAC-SHA1 of
    # the URL followed by each POST field, sorted by name, as name + value.
    from urllib.parse import parse_qsl

    signed = URL + "".join(k + v for k, v in sorted(parse_qsl(FORM)))
    return ({"X-Mandrill-Signature": b64(mac(S1, s, signed)),
             "Content-Type": "application/x-www-form-urlencoded"}, FORM, URL)


# preset → (secret, signer, signs a timestamp, how it was made)
P = {
    "github": ("gh-secret-9f2c", body_hex("X-Hub-Signature-256", prefix="sha256="), False, "docs"),
    "bitbucket": ("bb-secret-1", body_hex("X-Hub-Signature", prefix="sha256="), False, "docs"),
    "jira": ("jira-secret-1", body_hex("X-Hub-Signature", prefix="sha256="), False, "docs"),
    "meta": ("meta-app-secret", body_hex("X-Hub-Signature-256", prefix="sha256="), False, "docs"),
    "ashby": ("ashby-secret", body_hex("Ashby-Signature", prefix="sha256="), False, "docs"),
    "cursor": ("cursor-secret", body_hex("X-Webhook-Signature", prefix="sha256="), False, "docs"),
    "mollie": ("mollie-secret", body_hex("X-Mollie-Signature", prefix="sha256="), False, "docs"),
    "greenhouse": ("gh-house-secret", body_hex("Signature", prefix="sha256 "), False, "docs"),
    "airtable": (b64(b"airtable mac secret bytes"), lambda s, ts: (
        {"X-Airtable-Content-MAC": "hmac-sha256=" + hx(mac(S256, base64.b64decode(s), BODY))}, BODY, URL),
        False, "docs"),
    "linear": ("lin_wh_secret", body_hex("Linear-Signature"), False, "docs"),
    "dropbox": ("dropbox-app-secret", body_hex("X-Dropbox-Signature"), False, "docs"),
    "clickup": ("clickup-secret", body_hex("X-Signature"), False, "docs"),
    "attio": ("attio-secret", body_hex("Attio-Signature"), False, "docs"),
    "cal-com": ("cal-secret", body_hex("X-Cal-Signature-256"), False, "docs"),
    "lemon-squeezy": ("lemon-secret", body_hex("X-Signature"), False, "docs"),
    "razorpay": ("razorpay-secret", body_hex("X-Razorpay-Signature"), False, "docs"),
    "paystack": ("sk_test_paystack", body_hex("x-paystack-signature", alg=S512), False, "docs"),
    "gocardless": ("gc-secret", body_hex("Webhook-Signature"), False, "docs"),
    "launchdarkly": ("ld-secret", body_hex("X-LD-Signature"), False, "docs"),
    "nylas": ("nylas-secret", body_hex("x-nylas-signature"), False, "docs"),
    "pusher": ("pusher-secret", body_hex("X-Pusher-Signature"), False, "docs"),
    "sentry": ("sentry-client-secret", body_hex("Sentry-Hook-Signature"), False, "docs"),
    "coinbase-commerce": ("cc-shared-secret", body_hex("X-CC-Webhook-Signature"), False, "docs"),
    "intercom": ("intercom-secret", body_hex("X-Hub-Signature", alg=S1, prefix="sha1="), False, "docs"),
    "vercel": ("vercel-secret", body_hex("x-vercel-signature", alg=S1), False, "docs"),
    "expo": ("expo-secret-16chars", body_hex("expo-signature", alg=S1, prefix="sha1="), False, "docs"),
    "circleci": ("circle-secret", lambda s, ts: (
        {"circleci-signature": "v2=ignored," + "v1=" + hx(mac(S256, s, BODY))}, BODY, URL), False, "docs"),
    "pagerduty": ("pd-secret", lambda s, ts: (
        {"X-PagerDuty-Signature": "v1=" + hx(mac(S256, "rotated-out", BODY)) + ",v1=" + hx(mac(S256, s, BODY))},
        BODY, URL), False, "docs"),
    "shopify": ("shpss_secret", body_b64("X-Shopify-Hmac-Sha256"), False, "docs"),
    "woocommerce": ("wc-secret", body_b64("X-WC-Webhook-Signature"), False, "docs"),
    "xero": ("xero-webhooks-key", body_b64("x-xero-signature"), False, "docs"),
    "quickbooks": ("intuit-verifier-token", body_b64("intuit-signature"), False, "docs"),
    "docusign": ("docusign-key-2", lambda s, ts: (
        {"X-DocuSign-Signature-1": b64(mac(S256, "docusign-key-1", BODY)),
         "X-DocuSign-Signature-2": b64(mac(S256, s, BODY))}, BODY, URL), False, "docs"),
    "fastspring": ("fs-secret", body_b64("X-FS-Signature"), False, "docs"),
    "tally": ("tally-secret", body_b64("Tally-Signature"), False, "docs"),
    "heroku": ("heroku-secret", body_b64("Heroku-Webhook-Hmac-SHA256"), False, "docs"),
    "typeform": ("typeform-secret", body_b64("Typeform-Signature", prefix="sha256="), False, "docs"),
    "twitter": ("consumer-secret", body_b64("x-twitter-webhooks-signature", prefix="sha256="), False, "docs"),
    "line": ("line-channel-secret", body_b64("x-line-signature"), False, "docs"),
    "fourthwall": ("fourthwall-secret", body_b64("X-Fourthwall-Hmac-SHA256"), False, "docs"),
    "adyen": (HEX_KEY, body_b64("HmacSignature", key=lambda s: bytes.fromhex(s)), False, "docs"),
    "microsoft-teams": (B64_KEY, body_b64("Authorization", prefix="HMAC ", key=lambda s: base64.b64decode(s)),
                        False, "docs"),
    "stripe": ("whsec_stripe_test_secret", stripe_lib, True, "library:stripe"),
    "calendly": ("calendly-key", kv("Calendly-Webhook-Signature", lambda t, s: f"t={t},v1={s}",
                                    lambda t, b: f"{t}.{b}"), True, "docs"),
    "mux": ("mux-secret", kv("Mux-Signature", lambda t, s: f"t={t},v1={s}", lambda t, b: f"{t}.{b}"), True, "docs"),
    "workos": ("workos-secret", kv("WorkOS-Signature", lambda t, s: f"t={t}, v1={s}", lambda t, b: f"{t}.{b}",
                                   unit=1000), True, "docs"),
    "cloudflare-stream": ("cf-secret", kv("Webhook-Signature", lambda t, s: f"time={t},sig1={s}",
                                          lambda t, b: f"{t}.{b}"), True, "docs"),
    "elevenlabs": ("el-secret", kv("ElevenLabs-Signature", lambda t, s: f"t={t},v0={s}", lambda t, b: f"{t}.{b}"),
                   True, "docs"),
    "tiktok": ("tiktok-client-secret", kv("TikTok-Signature", lambda t, s: f"t={t},s={s}",
                                          lambda t, b: f"{t}.{b}"), True, "docs"),
    "rootly": ("rootly-secret", kv("X-Rootly-Signature", lambda t, s: f"t={t},v1={s}", lambda t, b: f"{t}{b}"),
               True, "docs"),
    "paddle": ("pdl_ntfset_secret", kv("Paddle-Signature", lambda t, s: f"ts={t};h1={s}", lambda t, b: f"{t}:{b}"),
               True, "docs"),
    "tailscale": ("tskey-webhook-secret", kv("Tailscale-Webhook-Signature", lambda t, s: f"t={t},v1={s}",
                                             lambda t, b: f"{t}.{b}"), True, "docs"),
    "slack": ("8f742231b10e8888abcd99yyyzzz85a5", slack_lib, True, "library:slack_sdk"),
    "zendesk": ("zendesk-signing-secret", zendesk, True, "docs"),
    "webflow": ("webflow-secret", webflow, True, "docs"),
    "airwallex": ("airwallex-secret", airwallex, True, "docs"),
    "box": ("box-primary-key", box, True, "docs"),
    "twitch": ("twitch-secret-10+", twitch, True, "docs"),
    "svix": (WHSEC, svix_lib, True, "library:svix"),
    "clerk": (WHSEC, svix_lib, True, "library:svix"),
    "resend": (WHSEC, svix_lib, True, "library:svix"),
    "open-ai": (WHSEC, standard_lib, True, "library:standardwebhooks"),
    "replicate": (WHSEC, standard_lib, True, "library:standardwebhooks"),
    "incident-io": (WHSEC, standard_lib, True, "library:standardwebhooks"),
    "loops": ("loops_" + b64(b"loops signing key bytes"), loops, True, "docs"),
    "nango": ("nango-env-secret-key", body_hex("X-Nango-Hmac-Sha256"), False, "docs"),
    "veriff": ("veriff-shared-secret-key", body_hex("X-HMAC-SIGNATURE"), False, "docs"),
    "easypost": ("easypost-webhook-secret", easypost, False, "docs"),
    "segment": ("segment-shared-secret", body_hex("X-Signature", alg=S1), False, "docs"),
    "rutter": ("rutter-client-secret", body_b64("X-Rutter-Signature", prefix="sha256="), False, "docs"),
    # A key whose signature of BODY holds both URL-safe characters (- and _).
    "merge": ("merge-signature-key-4", merge, False, "docs"),
    "port-io": ("port-client-secret", port_io, True, "docs"),
    # Brex hands out its secrets as bare base64 (GET /v1/webhooks/secrets), without the whsec_ prefix.
    "brex": (b64(b"a brex webhook signing secret"), standard_lib, True, "library:standardwebhooks"),
    "lithic": (WHSEC, standard_lib, True, "library:standardwebhooks"),
    "pleo": (WHSEC, standard_lib, True, "library:standardwebhooks"),
    "stych": (WHSEC, svix_lib, True, "library:svix"),
    "hubspot": ("hubspot-client-secret", hubspot, True, "docs"),
    "square": ("square-signature-key", square, False, "docs"),
    "trello": ("trello-oauth-secret", trello, False, "docs"),
    "mandrill": ("mandrill-webhook-key", mandrill, False, "docs"),
    "telegram": ("tg_secret_token-1", token("X-Telegram-Bot-Api-Secret-Token"), False, "docs"),
    "revenuecat": ("Bearer rc-auth-value", token("Authorization"), False, "docs"),
    "okta": ("okta-auth-secret", token("Authorization"), False, "docs"),
    "brevo": ("brevo-bearer-token", token("Authorization", prefix="Bearer "), False, "docs"),
    "chargebee": ("cb-user:cb-password", basic, False, "docs"),
    "postmark": ("pm-user:pm-password", basic, False, "docs"),
    "microsoft-graph": ("graph-client-state-1", graph, False, "docs"),
    "monday": ("monday-app-signing-secret-32-bytes+", monday, True, "library:PyJWT"),
}
# Where the token is in the body, a request without it is the unsigned one.
BARE = {"microsoft-graph": graph_body(None)}

cases = []
for name, (secret, sign, has_ts, how) in P.items():
    headers, body, url = sign(secret, NOW)
    stale = sign(secret, STALE)[0] if has_ts else None
    signed_body = name not in ("telegram", "revenuecat", "okta", "brevo", "chargebee", "postmark",
                               "microsoft-graph", "monday")
    cases.append({"preset": name, "secret": secret, "body": body, "headers": headers, "url": url,
                  "signer": how, "stale": stale, "bodySigned": signed_body, "bareBody": BARE.get(name, body)})
print(json.dumps({"cases": cases}))
