"""``wavecom.providers.cli``: the admin CLI's ``providers`` subcommands, parsed as
``python -m wavecom.admin`` parses them and run in-process against the real database.

What the parser refuses, apply from stdin or several files (a bad one writing nothing), the
list's columns, and the accounts another source manages (the operator's) left alone.
tests/test_admin.py runs the CLI as a process: credentials sealed, listed, rotated.
"""

from __future__ import annotations

import argparse
import io
from pathlib import Path

import pytest

from tests.support.accounts import manifest, provider, secret
from tests.support.notifications import put_mock_account
from wavecom.core.constants import Channel
from wavecom.core.settings import Settings
from wavecom.providers import accounts, cli
from wavecom.providers.credentials import Cipher
from wavecom.store import Store

REHEARSAL = provider("rehearsal", "SMS", "mock", {"latencyMs": 5})


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="wavecom.admin")
    cli.add_parser(parser.add_subparsers(dest="noun", required=True))
    return parser.parse_args(argv)


async def run(settings: Settings, store: Store, *argv: str) -> int:
    return await cli.run(parse("providers", *argv), settings, store)


def test_the_parser_takes_the_documented_verbs_and_refuses_the_rest(
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = parse("providers", "apply", "-f", "a.yaml", "--filename", "b.yaml")
    assert (args.verb, args.filename) == ("apply", ["a.yaml", "b.yaml"])
    assert parse("providers", "list").channel is None
    assert parse("providers", "list", "--channel", "PUSH").channel == "PUSH"
    assert parse("providers", "delete", "bank-sms").name == "bank-sms"
    assert parse("providers", "rotate").verb == "rotate"
    for argv in (
        ("providers",),
        ("providers", "apply"),  # -f is required
        ("providers", "list", "--channel", "FAX"),
        ("providers", "delete"),
        ("providers", "restart"),
    ):
        with pytest.raises(SystemExit) as exited:
            parse(*argv)
        assert exited.value.code == 2
    assert "invalid choice: 'FAX'" in capsys.readouterr().err


async def test_apply_reads_stdin_and_each_apply_is_a_new_revision(
    settings: Settings,
    store: Store,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for revision in (1, 2):
        monkeypatch.setattr("sys.stdin", io.StringIO(REHEARSAL))
        assert await run(settings, store, "apply", "-f", "-") == 0
        assert capsys.readouterr().out == (
            f"notificationprovider/rehearsal applied (revision {revision})\n"
        )
    doc = await store.accounts.get("rehearsal")
    assert doc is not None
    assert (doc["channel"], doc["driver"], doc["source"]) == ("SMS", "mock", cli.SOURCE)


async def test_a_file_that_cannot_be_read_or_names_no_provider_writes_nothing(
    settings: Settings, store: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = tmp_path / "rehearsal.yaml"
    good.write_text(REHEARSAL)
    missing = tmp_path / "missing.yaml"
    assert await run(settings, store, "apply", "-f", str(good), "-f", str(missing)) == 2
    assert capsys.readouterr().err == (f"error: cannot read {missing}: No such file or directory\n")
    only_secret = tmp_path / "secret.yaml"
    only_secret.write_text(secret("bank-sms-twilio", {"authToken": "tok-never-shown"}))
    assert await run(settings, store, "apply", "-f", str(only_secret)) == 2
    assert capsys.readouterr().err == "error: no NotificationProvider in the files given\n"
    assert await store.accounts.all() == []
    assert await store.accounts.revision() == 0


async def test_the_list_shows_each_accounts_columns_and_filters_by_channel(
    settings: Settings, store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    await put_mock_account(store, "mail-a", Channel.EMAIL, priority=10, send_rate=12.5)
    await put_mock_account(
        store, "sms-acme", Channel.SMS, priority=5, enabled=False, tenants=("acme", "globex")
    )
    assert await run(settings, store, "list") == 0
    header, *rows = capsys.readouterr().out.splitlines()
    assert header.split() == [
        "name",
        "channel",
        "driver",
        "priority",
        "enabled",
        "rate/s",
        "credentials",
        "tenants",
        "source",
    ]
    assert sorted(row.split() for row in rows) == [
        ["mail-a", "EMAIL", "mock", "10", "yes", "12.5", "-", "(all)", "admin"],
        ["sms-acme", "SMS", "mock", "5", "no", "0", "-", "acme,globex", "admin"],
    ]
    assert await run(settings, store, "list", "--channel", "EMAIL") == 0
    assert [row.split()[0] for row in capsys.readouterr().out.splitlines()[1:]] == ["mail-a"]


async def test_an_account_the_operator_manages_is_neither_applied_nor_deleted_here(
    settings: Settings, store: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = accounts.AccountSpec(channel=Channel.SMS, driver="mock", priority=7)
    source = "kubernetes:payments/rehearsal"
    await accounts.apply(
        store, Cipher({}, None), "rehearsal", spec, None, source=source, environment="test"
    )
    revision = await store.accounts.revision()
    files = tmp_path / "both.yaml"
    files.write_text(manifest(provider("other", "SMS", "mock", {}), REHEARSAL))

    assert await run(settings, store, "apply", "-f", str(files)) == 2
    assert capsys.readouterr().err == f"error: provider 'rehearsal' is managed by {source}\n"
    assert await store.accounts.get("other") is None  # checked before anything is written
    assert await run(settings, store, "delete", "rehearsal") == 2
    assert "delete it there" in capsys.readouterr().err
    assert await store.accounts.revision() == revision

    assert await run(settings, store, "delete", "nobody") == 1
    assert capsys.readouterr().err == "error: no provider nobody\n"


async def test_a_seeded_account_is_taken_over_and_deleted_by_the_cli(
    settings: Settings, store: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = accounts.AccountSpec(channel=Channel.SMS, driver="mock", priority=10)
    seeded = {"_id": "rehearsal", **spec.document(), "credentials": None}
    assert await store.accounts.seed(Channel.SMS.value, [seeded])
    path = tmp_path / "rehearsal.yaml"
    path.write_text(REHEARSAL)
    assert await run(settings, store, "apply", "-f", str(path)) == 0
    taken = await store.accounts.get("rehearsal")
    assert taken is not None
    assert taken["source"] == cli.SOURCE
    assert await run(settings, store, "delete", "rehearsal") == 0
    assert capsys.readouterr().out.splitlines()[-1] == "notificationprovider/rehearsal deleted"
    assert await store.accounts.get("rehearsal") is None
