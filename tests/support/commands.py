"""Counting the commands the database driver sends (a pymongo CommandListener)."""

from __future__ import annotations

from collections import Counter

from pymongo import monitoring


class Commands(monitoring.CommandListener):
    """Database commands a client sent, by (command, collection): pass it in
    ``event_listeners`` of the client under test."""

    def __init__(self) -> None:
        self.seen: Counter[tuple[str, str]] = Counter()

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        self.seen[(event.command_name, str(event.command.get(event.command_name)))] += 1

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass
