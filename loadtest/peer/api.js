'use strict';
// The seed's API written plainly: POST /api/notifications validates the body, inserts one
// document, publishes one persistent message and waits for the broker's confirm, then answers
// 201 with the seed's envelope. No tenants, keys, idempotency, outbox or audit log.

const express = require('express');
const amqp = require('amqplib');
const { MongoClient, ObjectId } = require('mongodb');
const { AMQP_URL, MONGODB_URL, DATABASE, PORT, QUEUE, QUEUE_OPTIONS } = require('./config');

const TYPES = ['EMAIL', 'SMS', 'PUSH'];
const PRIORITIES = ['LOW', 'MEDIUM', 'HIGH', 'CRITICAL'];

function invalid(b) {
  if (!b || typeof b !== 'object') return 'body must be a JSON object';
  if (!TYPES.includes(b.type)) return `type must be one of ${TYPES.join(', ')}`;
  if (typeof b.recipient !== 'string' || !b.recipient) return 'recipient is required';
  if (typeof b.message !== 'string' || !b.message) return 'message is required';
  if (b.subject !== undefined && typeof b.subject !== 'string') return 'subject must be a string';
  if (b.priority !== undefined && !PRIORITIES.includes(b.priority)) return 'invalid priority';
  if (b.metadata !== undefined && (typeof b.metadata !== 'object' || b.metadata === null)) {
    return 'metadata must be an object';
  }
  return null;
}

async function main() {
  const mongo = await new MongoClient(MONGODB_URL).connect();
  const notifications = mongo.db(DATABASE).collection('notifications');
  const broker = await amqp.connect(AMQP_URL);
  const channel = await broker.createConfirmChannel();
  await channel.assertQueue(QUEUE, QUEUE_OPTIONS);
  const publish = (message) => new Promise((resolve, reject) => {
    const body = Buffer.from(JSON.stringify(message));
    channel.sendToQueue(QUEUE, body, { persistent: true, contentType: 'application/json' },
      (err) => (err ? reject(err) : resolve()));
  });

  const app = express();
  app.use(express.json({ limit: '64kb' }));
  app.get('/api/health', (req, res) => res.json({ success: true, data: { status: 'ok' } }));
  app.post('/api/notifications', async (req, res, next) => {
    const error = invalid(req.body);
    if (error) return res.status(400).json({ success: false, error });
    const { type, recipient, subject, message, priority = 'MEDIUM', metadata = {} } = req.body;
    const now = new Date();
    const doc = {
      _id: new ObjectId(), type, recipient, subject, message, priority, metadata,
      status: 'QUEUED', retryCount: 0, maxRetries: 3, createdAt: now, updatedAt: now,
    };
    try {
      await notifications.insertOne(doc);
      await publish({ notificationId: doc._id.toHexString(), type, recipient, priority });
    } catch (err) {
      return next(err);
    }
    return res.status(201).json({
      success: true, data: doc, message: 'Notification created and queued successfully',
    });
  });
  app.use((err, req, res, next) => {
    res.status(err.status || 500).json({ success: false, error: err.message });
  });
  app.listen(PORT, '127.0.0.1', () => console.log(`peer api on http://127.0.0.1:${PORT}`));
  broker.on('close', () => process.exit(1)); // a peer without its broker is not a peer
}

main().catch((err) => { console.error(err); process.exit(1); });
