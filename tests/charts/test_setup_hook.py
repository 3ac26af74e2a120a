"""The setup hook: a pre-install/pre-upgrade Job (indexes, topology) with its own settings
and ServiceAccount, created before it."""

from __future__ import annotations

from tests.charts.chart import FULL, URLS, containers, one, render_chart


def test_setup_hook_runs_before_install_and_upgrade_and_cleans_up() -> None:
    docs = render_chart(URLS)
    job = one(docs, "Job", f"{FULL}-setup")
    ann = job["metadata"]["annotations"]
    assert ann["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert "hook-succeeded" in ann["helm.sh/hook-delete-policy"]
    # its settings and ServiceAccount are hooks too, created first: the release's own do not
    # exist yet at pre-install
    for kind in ("ConfigMap", "Secret", "ServiceAccount"):
        hook = one(docs, kind, f"{FULL}-setup")
        assert int(hook["metadata"]["annotations"]["helm.sh/hook-weight"]) < 0
    assert job["spec"]["template"]["spec"]["serviceAccountName"] == f"{FULL}-setup"
    # the image's dispatcher runs `python -m wavecom.admin setup` (tests/test_admin.py runs it)
    assert containers(job)[0]["args"] == ["admin", "setup"]
