"""status.conditions: one per type, lastTransitionTime moves only when the status does."""

from __future__ import annotations

from wavecom.operator.conditions import (
    CREDENTIALS_RESOLVED,
    READY,
    Condition,
    Reason,
    find,
    merge,
)

T0 = "2026-01-01T00:00:00Z"
T1 = "2026-01-01T00:05:00Z"


def test_a_new_condition_has_every_field() -> None:
    out = merge([], [Condition(READY, "True", Reason.APPLIED, "ok")], generation=3, at=T0)
    assert out == [
        {
            "type": "Ready",
            "status": "True",
            "reason": "Applied",
            "message": "ok",
            "observedGeneration": 3,
            "lastTransitionTime": T0,
        }
    ]


def test_last_transition_time_moves_only_when_the_status_changes() -> None:
    first = merge(
        [], [Condition(READY, "False", Reason.SECRET_NOT_FOUND, "x")], generation=1, at=T0
    )
    # same status, another reason and message, a later generation: the time stays
    same = merge(first, [Condition(READY, "False", Reason.INVALID_SPEC, "y")], generation=2, at=T1)
    ready = find(same, READY)
    assert ready is not None
    assert ready["lastTransitionTime"] == T0
    assert (ready["reason"], ready["message"], ready["observedGeneration"]) == (
        "InvalidSpec",
        "y",
        2,
    )
    moved = merge(same, [Condition(READY, "True", Reason.APPLIED, "z")], generation=2, at=T1)
    assert find(moved, READY) is not None
    assert find(moved, READY)["lastTransitionTime"] == T1  # type: ignore[index]


def test_other_types_are_kept_and_ordered() -> None:
    before = merge(
        [], [Condition(CREDENTIALS_RESOLVED, "True", Reason.RESOLVED, "s")], generation=1, at=T0
    )
    out = merge(before, [Condition(READY, "True", Reason.APPLIED, "a")], generation=1, at=T1)
    assert [c["type"] for c in out] == [READY, CREDENTIALS_RESOLVED]
    assert out[1]["lastTransitionTime"] == T0


def test_long_messages_are_cut() -> None:
    out = merge([], [Condition(READY, "False", Reason.INVALID_SPEC, "x" * 5000)], generation=1)
    assert len(out[0]["message"]) == 1024
