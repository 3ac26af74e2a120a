"""Every database command a process sends, counted by name (``database_commands_total``).

The cost of a notification is mostly its round trips (``make bench-writes``: a group of one
costs the database six times what a group of twenty does per notification), so the number of
commands per notification is the figure to watch, and unlike CPU it does not depend on what
else the machine is doing: ``make bench-steps`` reads it from each process's ``/metrics``
around every step. PyMongo calls the listener for each command it starts, in the process's own
thread; counting is one labelled increment. The label ``collection`` says which collection
a command named (``update stats``: a counter's tally or settle; ``update notifications``: a
claim or an outcome), the set of collections the store declares, so its values are few.
"""

from __future__ import annotations

from pymongo import monitoring

from wavecom.core import metrics


class CommandCounter(monitoring.CommandListener):
    """A PyMongo command listener feeding :data:`wavecom.core.metrics.DB_COMMANDS`."""

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        metrics.labelled(metrics.DB_COMMANDS, event.command_name, collection_of(event)).inc()

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        """Counted when started."""

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        metrics.labelled(metrics.DB_COMMAND_FAILURES, event.command_name).inc()


def collection_of(event: monitoring.CommandStartedEvent) -> str:
    """The collection a command names (``{"update": "stats", ...}``; a ``getMore`` names it in
    ``collection``); "" for one that names none."""
    name = event.command_name
    target = event.command.get("collection" if name == "getMore" else name)
    return target if isinstance(target, str) else ""
