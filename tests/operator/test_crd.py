"""The CRD as data: the file the chart ships is what ``python -m wavecom.operator crd`` prints,
and its schema follows AccountSpec (the core's own model of a provider's spec)."""

from __future__ import annotations

import subprocess
import sys
import typing
from pathlib import Path

from wavecom.core.constants import Channel
from wavecom.operator import crd
from wavecom.providers.accounts import AccountSpec, Driver

CHART_CRD = (
    Path(__file__).resolve().parents[2] / "charts/wavecom-notify/crds/notificationproviders.yaml"
)


def test_the_command_prints_the_file_the_chart_ships() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "wavecom.operator", "crd"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    assert out == CHART_CRD.read_text(), "regenerate: python -m wavecom.operator crd > " + str(
        CHART_CRD
    )


def test_the_schema_has_every_field_of_the_spec_and_its_bounds() -> None:
    (version,) = crd.definition()["spec"]["versions"]
    spec = version["schema"]["openAPIV3Schema"]["properties"]["spec"]
    aliases = {f.alias or n for n, f in AccountSpec.model_fields.items()}
    assert set(spec["properties"]) == aliases
    assert spec["required"] == ["channel", "driver"]
    props = spec["properties"]
    assert props["channel"]["enum"] == [c.value for c in Channel]
    assert props["driver"]["enum"] == list(typing.get_args(Driver))
    assert (props["priority"]["minimum"], props["priority"]["maximum"]) == (0, 10_000)
    assert props["sendRatePerSecond"]["minimum"] == 0
    assert props["timeoutSeconds"]["exclusiveMinimum"] is True
    assert props["timeoutSeconds"]["minimum"] == 0
    assert props["timeoutSeconds"]["maximum"] == 300
    defaults = AccountSpec(channel=Channel.SMS, driver="mock")
    assert props["priority"]["default"] == defaults.priority
    assert props["timeoutSeconds"]["default"] == defaults.timeout_seconds
    assert props["enabled"]["default"] is defaults.enabled
