"""Every database command a process sends, counted by name (``database_commands_total``).

The cost of a notification is mostly its round trips (``make bench-writes``: a group of one
costs the database six times what a group of twenty does per notification), so the number of
commands per notification is the figure to watch, and unlike CPU it does not depend on what
else the machine is doing: ``make bench-steps`` reads it from each process's ``/metrics``
around every step. PyMongo calls the listener for each command it starts, in the process's own
thread; counting is one labelled increment.
"""

from __future__ import annotations

from pymongo import monitoring

from wavecom.core import metrics


class CommandCounter(monitoring.CommandListener):
    """A PyMongo command listener feeding :data:`wavecom.core.metrics.DB_COMMANDS`."""

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        metrics.DB_COMMANDS.labels(event.command_name).inc()

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        """Counted when started."""

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        metrics.DB_COMMAND_FAILURES.labels(event.command_name).inc()
