"""Reading finished spans in tests: by trace, by name, parents and links."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Span:
    """A finished span as the tests read it, from the SDK's in-memory exporter or from OTLP."""

    name: str
    trace_id: str
    span_id: str
    parent_id: str  # "" for a root
    kind: str  # SERVER, CLIENT, PRODUCER, CONSUMER, INTERNAL
    attributes: dict[str, object]
    links: tuple[tuple[str, str], ...] = ()  # (trace id, span id)
    service: str = ""
    status_error: bool = False
    start_ns: int = 0


def in_trace(spans: Iterable[Span], trace_id: str) -> list[Span]:
    return sorted((s for s in spans if s.trace_id == trace_id), key=lambda s: s.start_ns)


def named(spans: Iterable[Span], name: str) -> list[Span]:
    """The spans called ``name`` (a name ending with a space: every name starting so)."""
    if name.endswith(" "):
        return [s for s in spans if s.name.startswith(name)]
    return [s for s in spans if s.name == name]


def one(spans: Iterable[Span], name: str) -> Span:
    found = named(spans, name)
    assert len(found) == 1, f"{len(found)} spans named {name!r}: {[s.name for s in found]}"
    return found[0]


def by_id(spans: Iterable[Span]) -> dict[str, Span]:
    return {s.span_id: s for s in spans}


def ancestors(span: Span, spans: Sequence[Span]) -> list[str]:
    """The names of the span's parents, nearest first (within ``spans``)."""
    index, names = by_id(spans), []
    current = index.get(span.parent_id)
    while current is not None:
        names.append(current.name)
        current = index.get(current.parent_id)
    return names


def tree(spans: Sequence[Span]) -> str:
    """An indented outline of the spans (for failure messages)."""
    index = by_id(spans)
    lines: list[str] = []

    def walk(s: Span, depth: int) -> None:
        lines.append(f"{'  ' * depth}{s.name} [{s.kind}] {s.service}")
        for c in sorted(spans, key=lambda x: x.start_ns):
            if c.parent_id == s.span_id:
                walk(c, depth + 1)

    for s in sorted(spans, key=lambda x: x.start_ns):
        if s.parent_id not in index:
            walk(s, 0)
    return "\n".join(lines)
