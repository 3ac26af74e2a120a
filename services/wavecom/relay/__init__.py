"""What runs beside the API, as periodic tasks of every API process (``api/app.py``):
``due`` publishes due SCHEDULED notifications and the outbox's leftovers, ``sweeper`` finds
lost messages (one process at a time, by lease), ``reconcile`` exports the stuck notifications
(and is ``make verify``: ``python -m wavecom.relay.reconcile``)."""
