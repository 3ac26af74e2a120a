'use strict';
// The seed's worker written plainly: consume with a prefetch, mark the document SENT, ack.
// No provider call, no claim, no retries, no timeline, no counters.

const amqp = require('amqplib');
const { MongoClient, ObjectId } = require('mongodb');
const { AMQP_URL, MONGODB_URL, DATABASE, PREFETCH, QUEUE, QUEUE_OPTIONS } = require('./config');

async function main() {
  const mongo = await new MongoClient(MONGODB_URL).connect();
  const notifications = mongo.db(DATABASE).collection('notifications');
  const broker = await amqp.connect(AMQP_URL);
  const channel = await broker.createChannel();
  await channel.assertQueue(QUEUE, QUEUE_OPTIONS);
  await channel.prefetch(PREFETCH);
  await channel.consume(QUEUE, async (msg) => {
    const started = Date.now();
    try {
      const { notificationId } = JSON.parse(msg.content.toString());
      const now = new Date();
      await notifications.updateOne({ _id: new ObjectId(notificationId) }, {
        $set: {
          status: 'SENT', sentAt: now, updatedAt: now,
          providerMessageId: `peer_${notificationId}`, processingTimeMs: Date.now() - started,
        },
      });
      channel.ack(msg);
    } catch (err) {
      console.error(err);
      channel.nack(msg); // back to the queue; the broker redelivers it
    }
  });
  console.log(`peer worker consuming ${QUEUE} (prefetch ${PREFETCH})`);
  broker.on('close', () => process.exit(1));
  for (const sig of ['SIGTERM', 'SIGINT']) {
    process.on(sig, async () => {
      await channel.close(); // unacked messages go back to the queue
      await broker.close();
      await mongo.close();
      process.exit(0);
    });
  }
}

main().catch((err) => { console.error(err); process.exit(1); });
