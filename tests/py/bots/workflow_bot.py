# A richer bot than the seed's quick starts, for the flows they leave out: the approval button that replaces
# the original message (seed 9.1/9.2), a modal (9.3), a direct answer to a message.sent delivery (5.6).
# It verifies every delivery with the seed's Python recipe (12.2) and keeps the events it accepted, which
# GET /events shows, so a test can look at what the bot was sent.
#
# Environment: WEBHOOK_SECRET, BOT_TOKEN, INCOMING_WEBHOOK_URL (from the bot's registration), API_BASE
# (hookd's base URL, for the bot REST API), PORT.
import hashlib
import hmac
import os
import threading

import requests
from flask import Flask, jsonify, request

app = Flask(__name__)

WEBHOOK_SECRET = os.environ['WEBHOOK_SECRET']
BOT_TOKEN = os.environ['BOT_TOKEN']
INCOMING_WEBHOOK_URL = os.environ['INCOMING_WEBHOOK_URL']
API_BASE = os.environ['API_BASE']

accepted = []
rejected = []
lock = threading.Lock()
# The channel each open modal was opened from, by callback id.
modal_channels = {}


# ── seed 003, Python quick start, unchanged ──
def verify_signature(payload, signature, timestamp):
    signed_payload = f"{timestamp}.{payload}"
    expected = "sha256=" + hmac.new(
        WEBHOOK_SECRET.encode(),
        signed_payload.encode(),
        hashlib.sha256
    ).hexdigest()
    return hmac.compare_digest(expected, signature)
# ──


def api(method, body):
    r = requests.post(f"{API_BASE}/api/v1/{method}", json=body,
                      headers={'Authorization': f'Bearer {BOT_TOKEN}'}, timeout=10)
    return r.status_code, r.json()


APPROVAL_CARD = {
    "type": "adaptive_card",
    "card": {
        "type": "AdaptiveCard",
        "version": "1.5",
        "body": [{"type": "TextBlock", "text": "Action Required", "weight": "bolder", "size": "medium"}],
        "actions": [
            {"type": "Action.Submit", "title": "Approve", "data": {"action": "approve", "request_id": "req_123"}},
            {"type": "Action.Submit", "title": "Reject", "data": {"action": "reject", "request_id": "req_123"}},
        ],
    },
}

DEPLOY_MODAL = {
    "type": "modal",
    "title": "Deploy Configuration",
    "submit_label": "Deploy",
    "close_label": "Cancel",
    "callback_id": "deploy_modal",
    "elements": [
        {"type": "select", "name": "environment", "label": "Environment",
         "options": [{"label": "Staging", "value": "staging"}, {"label": "Production", "value": "production"}]},
        {"type": "text_input", "name": "version", "label": "Version", "placeholder": "v1.2.3"},
        {"type": "checkbox", "name": "notify", "label": "Notify channel on completion", "initial_value": True},
    ],
}


@app.route('/events', methods=['GET'])
def events():
    with lock:
        return jsonify({'accepted': accepted, 'rejected': rejected})


@app.route('/webhook', methods=['POST'])
def webhook():
    signature = request.headers.get('X-Webhook-Signature') or ''
    timestamp = request.headers.get('X-Webhook-Timestamp') or ''
    if not verify_signature(request.data.decode(), signature, timestamp):
        with lock:
            rejected.append(request.data.decode())
        return 'Invalid signature', 401
    event = request.json
    with lock:
        accepted.append(event)

    kind = event['event_type']
    if kind == 'message.sent':
        text = event['payload'].get('text') or ''
        if 'approval please' in text:
            status, body = api('chat.postMessage', {
                'channel_id': event['channel']['channel_id'],
                'text': 'Approval Request',
                'attachments': [APPROVAL_CARD],
            })
            if status != 200:
                return f'postMessage failed: {status} {body}', 500
        elif text.endswith('ping'):
            # Seed 5.6: a direct answer to the delivery.
            return jsonify({'response_type': 'in_channel', 'text': 'pong'})
    elif kind == 'slash_command' and event['command'] == 'configure':
        modal_channels[DEPLOY_MODAL['callback_id']] = event['channel']['channel_id']
        status, body = api('views.open', {'trigger_id': event['trigger_id'], 'modal': DEPLOY_MODAL})
        if status != 200:
            return jsonify({'response_type': 'ephemeral', 'text': f'views.open failed: {status} {body}'})
        return jsonify({'response_type': 'ephemeral', 'text': 'Opening the deploy configuration...'})
    elif kind == 'interactive.action':
        action = event['action']
        if action['action_type'] == 'view_submission':
            values = action['data']
            channel = modal_channels.get(action['action_id'])
            threading.Thread(target=api, args=('chat.postMessage', {
                'channel_id': channel,
                'text': f"Deploying {values['version']} to {values['environment']}",
            })).start()
        else:
            # Seed 9.2: answer the click by replacing the original message, after answering the delivery.
            verdict = 'approved' if action['data'].get('action') == 'approve' else 'rejected'
            who = event['user']['username']
            threading.Thread(target=requests.post, args=(event['response_url'],), kwargs={'json': {
                'replace_original': True,
                'text': f'Request {verdict} by @{who}',
                'attachments': [{
                    'type': 'adaptive_card',
                    'card': {'type': 'AdaptiveCard', 'body': [
                        {'type': 'TextBlock', 'text': f"{'✅' if verdict == 'approved' else '❌'} "
                                                      f"{verdict.capitalize()} by {who}", 'color': 'good'}]},
                }],
            }, 'timeout': 10}).start()
    return 'OK', 200


if __name__ == '__main__':
    app.run(port=int(os.environ.get('PORT', 3000)), threaded=True)
