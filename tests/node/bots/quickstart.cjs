// Seed 003, section 12.1 "Quick Start (Node.js)", as written. Changes, and only these:
//   * it listens on process.env.PORT (3000 when unset), so a test can run it on a free port;
//   * processDeployment(event), which the seed calls but does not define, is defined below.
// .cjs because tests/node/package.json says "type": "module" and the seed's bot uses require().
const express = require('express');
const crypto = require('crypto');

const app = express();
app.use(express.json());

const WEBHOOK_SECRET = process.env.WEBHOOK_SECRET;
const BOT_TOKEN = process.env.BOT_TOKEN;
const INCOMING_WEBHOOK_URL = process.env.INCOMING_WEBHOOK_URL;

// Verify webhook signature
function verifySignature(payload, signature, timestamp) {
  const signedPayload = `${timestamp}.${JSON.stringify(payload)}`;
  const expected = 'sha256=' + crypto
    .createHmac('sha256', WEBHOOK_SECRET)
    .update(signedPayload)
    .digest('hex');
  return crypto.timingSafeEqual(Buffer.from(expected), Buffer.from(signature));
}

// Webhook handler
app.post('/webhook', (req, res) => {
  const signature = req.headers['x-webhook-signature'];
  const timestamp = req.headers['x-webhook-timestamp'];

  if (!verifySignature(req.body, signature, timestamp)) {
    return res.status(401).send('Invalid signature');
  }

  const event = req.body;

  switch (event.event_type) {
    case 'message.sent':
      handleMessage(event);
      break;
    case 'slash_command':
      handleSlashCommand(event, res);
      return;  // Response sent in handler
  }

  res.status(200).send('OK');
});

function handleMessage(event) {
  // React to messages mentioning the bot
  if (event.payload.mentions?.some(m => m.type === 'bot')) {
    sendMessage(event.channel.channel_id, 'Hello! How can I help?');
  }
}

function handleSlashCommand(event, res) {
  if (event.command === 'deploy') {
    // Immediate acknowledgment
    res.json({
      response_type: 'ephemeral',
      text: 'Starting deployment...'
    });

    // Async processing
    processDeployment(event).then(result => {
      // Send follow-up via response_url
      fetch(event.response_url, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({
          response_type: 'in_channel',
          text: `Deployment complete: ${result}`
        })
      });
    });
  }
}

async function sendMessage(channelId, text) {
  await fetch(INCOMING_WEBHOOK_URL, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ channel_id: channelId, text })
  });
}

// Not in the seed (it calls it without defining it): a deployment that takes a moment.
function processDeployment(event) {
  return new Promise(resolve =>
    setTimeout(() => resolve(`${event.args.environment} ${event.args.version}`), 200));
}

app.listen(process.env.PORT || 3000);
