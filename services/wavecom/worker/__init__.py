"""The channel worker process (``python -m wavecom.worker --channel email``): ``consumer``
(the consume loop and batches), ``pipeline`` (one delivery with failover and backoff),
``outcome_writes`` (the after-answer outcome writes) and ``ratelimit`` (token buckets)."""
