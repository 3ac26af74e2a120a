"""Signed status callbacks to tenants (``python -m wavecom.callbacks``; docs/callbacks.md).

- ``payload``: event types, webhook-ids, the body and its Standard Webhooks signature
- ``endpoints``: registering, changing and reading a tenant's endpoints (API and CLI)
- ``owed``: which callbacks a notification's timeline owes which endpoints
- ``sender``: one endpoint's lane: signed POSTs, retries with backoff, dead letters
- ``service``: the process: endpoints followed, events consumed, the repair scan, the lanes
- ``cli``: ``python -m wavecom.admin callbacks ...``
"""
