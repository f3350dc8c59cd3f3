# Seed 003, section 12.2 "Quick Start (Python)", as written. One change: the port comes from the
# environment variable PORT (3000 when unset), so a test can run it on a free port.
import hmac
import hashlib
import os
from flask import Flask, request, jsonify
import requests

app = Flask(__name__)

WEBHOOK_SECRET = os.environ['WEBHOOK_SECRET']
BOT_TOKEN = os.environ['BOT_TOKEN']
INCOMING_WEBHOOK_URL = os.environ['INCOMING_WEBHOOK_URL']

def verify_signature(payload, signature, timestamp):
    signed_payload = f"{timestamp}.{payload}"
    expected = "sha256=" + hmac.new(
        WEBHOOK_SECRET.encode(),
        signed_payload.encode(),
        hashlib.sha256
    ).hexdigest()
    return hmac.compare_digest(expected, signature)

@app.route('/webhook', methods=['POST'])
def webhook():
    signature = request.headers.get('X-Webhook-Signature')
    timestamp = request.headers.get('X-Webhook-Timestamp')

    if not verify_signature(request.data.decode(), signature, timestamp):
        return 'Invalid signature', 401

    event = request.json

    if event['event_type'] == 'message.sent':
        handle_message(event)
    elif event['event_type'] == 'slash_command':
        return handle_slash_command(event)

    return 'OK', 200

def handle_message(event):
    mentions = event.get('payload', {}).get('mentions', [])
    if any(m.get('type') == 'bot' for m in mentions):
        send_message(event['channel']['channel_id'], 'Hello! How can I help?')

def handle_slash_command(event):
    if event['command'] == 'status':
        return jsonify({
            'response_type': 'in_channel',
            'text': 'All systems operational ✅'
        })
    return 'OK', 200

def send_message(channel_id, text):
    requests.post(INCOMING_WEBHOOK_URL, json={
        'channel_id': channel_id,
        'text': text
    })

if __name__ == '__main__':
    app.run(port=int(os.environ.get('PORT', 3000)))
