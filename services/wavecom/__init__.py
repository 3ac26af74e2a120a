"""WaveCom Notify: delivery of transactional notifications over RabbitMQ and MongoDB."""

__version__ = "0.1.0"
