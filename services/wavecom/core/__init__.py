"""What every process shares, and nothing else: settings, constants, errors, the queue message
(``messages``), the broker's topology and publisher (``broker``), status events, telemetry,
metrics, logs, TLS, the periodic-task runner and the probe server, the short caches, and the
keys and tenants both the API and the admin CLI read. Nothing here imports ``api``, ``relay``
or ``worker``."""
