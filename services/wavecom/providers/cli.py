"""``python -m wavecom.admin providers ...``: provider accounts without Kubernetes.

apply -f FILE [-f FILE ...]   the same YAML as ``kubectl apply`` (NotificationProvider + Secret)
list [--channel EMAIL]        accounts, never their credentials
delete NAME                   remove an account (workers stop using it within seconds)
rotate                        re-seal every account's credentials with CREDENTIALS_KEY
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from wavecom.core.constants import Channel
from wavecom.core.errors import ProviderConfigError
from wavecom.core.settings import Settings
from wavecom.providers import accounts
from wavecom.providers.credentials import Cipher
from wavecom.providers.manifests import parse
from wavecom.store import Store
from wavecom.store.accounts import SEED_SOURCE

SOURCE = "admin"  # accounts this CLI manages; those of an operator namespace are refused


def add_parser(nouns: Any) -> None:
    providers = nouns.add_parser("providers", help="provider accounts").add_subparsers(
        dest="verb", required=True
    )
    apply = providers.add_parser("apply", help="create or update accounts from YAML")
    apply.add_argument(
        "-f", "--filename", action="append", required=True, help="a YAML file, or - for stdin"
    )
    listing = providers.add_parser("list", help="accounts (never their credentials)")
    listing.add_argument("--channel", choices=[c.value for c in Channel])
    delete = providers.add_parser("delete", help="remove an account")
    delete.add_argument("name")
    providers.add_parser("rotate", help="re-seal credentials with the current key")


async def run(args: argparse.Namespace, settings: Settings, store: Store) -> int:
    try:
        match args.verb:
            case "apply":
                return await _apply(args.filename, settings, store)
            case "list":
                return await _list(store, Channel(args.channel) if args.channel else None)
            case "delete":
                return await _delete(store, args.name)
            case _:
                n = await accounts.rotate(store, Cipher.of(settings))
                print(f"re-sealed {n} account(s) with key id {settings.credentials_key_id}")
                return 0
    except ProviderConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _read(files: list[str]) -> list[str]:
    try:
        return [sys.stdin.read() if f == "-" else Path(f).read_text() for f in files]
    except OSError as exc:
        raise ProviderConfigError(f"cannot read {exc.filename}: {exc.strerror}") from None


async def _apply(files: list[str], settings: Settings, store: Store) -> int:
    resources = parse(_read(files))
    if not resources:
        raise ProviderConfigError("no NotificationProvider in the files given")
    cipher = Cipher.of(settings)
    # everything is checked before anything is written: a bad file changes nothing
    for r in resources:
        await accounts.validate(r.name, r.spec, r.credentials, environment=settings.environment)
        if r.credentials and cipher.current is None:
            cipher.seal(r.name, r.credentials)  # raises: CREDENTIALS_KEY is not set
        existing = await store.accounts.get(r.name)
        if existing is not None and existing.get("source") not in (SOURCE, SEED_SOURCE):
            raise accounts.AccountConflict(
                f"provider {r.name!r} is managed by {existing.get('source')}"
            )
    for r in resources:
        account = await accounts.apply(
            store,
            cipher,
            r.name,
            r.spec,
            r.credentials,
            source=SOURCE,
            environment=settings.environment,
        )
        print(f"notificationprovider/{account.name} applied (revision {account.revision})")
    return 0


async def _list(store: Store, channel: Channel | None) -> int:
    print(
        f"{'name':<24}{'channel':<8}{'driver':<9}{'priority':>8}  {'enabled':<8}"
        f"{'rate/s':>8}  {'credentials':<12}{'tenants':<20}source"
    )
    for a in await accounts.list_accounts(store, channel):
        s = a.spec
        print(
            f"{a.name:<24}{s.channel.value:<8}{s.driver:<9}{s.priority:>8}  "
            f"{('yes' if s.enabled else 'no'):<8}{s.send_rate_per_second:>8g}  "
            f"{('sealed' if a.sealed else '-'):<12}{(','.join(s.tenants) or '(all)'):<20}"
            f"{a.source}"
        )
    return 0


async def _delete(store: Store, name: str) -> int:
    existing = await store.accounts.get(name)
    if existing is None:
        print(f"error: no provider {name}", file=sys.stderr)
        return 1
    if existing.get("source") not in (SOURCE, SEED_SOURCE):
        raise accounts.AccountConflict(
            f"provider {name!r} is managed by {existing.get('source')}: delete it there"
        )
    await accounts.remove(store, name, source=SOURCE)
    print(f"notificationprovider/{name} deleted")
    return 0
