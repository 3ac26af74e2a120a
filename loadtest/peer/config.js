'use strict';
// What the peer's API and worker share: where to connect and the names of the queue and the
// collection. Everything comes from the environment, so a benchmark can give the peer its own
// RabbitMQ vhost and its own database and never touch WaveCom Notify's.

module.exports = {
  AMQP_URL: process.env.AMQP_URL || 'amqp://guest:guest@127.0.0.1:5672/peer',
  MONGODB_URL: process.env.MONGODB_URL || 'mongodb://127.0.0.1:27017/',
  DATABASE: process.env.PEER_DATABASE || 'peer',
  PORT: Number(process.env.PORT || 5000),
  PREFETCH: Number(process.env.PREFETCH || 100),
  QUEUE: 'notifications',
  // a durable quorum queue, as ours are: replicated and fsynced before the broker confirms
  QUEUE_OPTIONS: { durable: true, arguments: { 'x-queue-type': 'quorum' } },
};
