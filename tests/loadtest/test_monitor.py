"""``loadtest.monitor``: our processes found by their command lines, grouped for the CPU split."""

from __future__ import annotations

import pytest

from loadtest.monitor import process_group

PY = "python3"
PORT = ["--metrics-port", "9101"]


@pytest.mark.parametrize(
    ("argv", "group"),
    [
        ([PY, "-m", "wavecom.api", "--metrics-port", "9100"], "api"),
        ([PY, "-m", "wavecom.worker", "--channel", "sms", "--metrics-port", "9102"], "worker-sms"),
        # make up's one process for the three channels
        (
            [PY, "-m", "wavecom.worker", "--channel", "email", "sms", "push", *PORT],
            "worker-email-sms-push",
        ),
        ([PY, "-m", "wavecom.worker", "--channel", "push"], "worker-push"),
        ([PY, "-m", "wavecom.worker"], "worker"),
        ([PY, "-m", "wavecom.callbacks", "--metrics-port", "9104"], None),
        (["/usr/lib/postgresql/15/bin/postgres", "-D", "/data"], None),
    ],
)
def test_each_process_is_grouped_by_what_it_runs(argv: list[str], group: str | None) -> None:
    assert process_group(argv) == group
