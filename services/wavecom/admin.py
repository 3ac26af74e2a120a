"""Operator's CLI for tenants and API keys (the database named by MONGODB_URL/MONGODB_DATABASE).

python -m wavecom.admin keys create --tenant acme --scope send,read [--name ci]
python -m wavecom.admin keys list [--tenant acme]
python -m wavecom.admin keys revoke <key id>
python -m wavecom.admin tenants set-limit acme --per-second 200 --burst 1000
python -m wavecom.admin tenants set-shared-fallback acme off   # only acme's reserved accounts
python -m wavecom.admin tenants set-ttl acme SMS 300    # SMS without ttlSeconds: 5 minutes
python -m wavecom.admin tenants list
python -m wavecom.admin tenants count-facets [TENANT ...]   # after the upgrade that added them
python -m wavecom.admin providers apply -f providers.yaml | list | delete NAME | rotate
python -m wavecom.admin callbacks add --tenant acme --url URL [--events ...] | list | rotate ...
python -m wavecom.admin setup    # the database's indexes and the broker's topology (idempotent)
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from wavecom.callbacks import cli as callbacks_cli
from wavecom.core import tls
from wavecom.core.broker import QueueShape, connect, declare_topology
from wavecom.core.constants import Channel, valid_tenant
from wavecom.core.errors import DependencyUnavailable, QueueMismatch
from wavecom.core.keys import Keys, parse_scopes
from wavecom.core.settings import Settings, get_settings
from wavecom.core.tenants import RateLimit, Tenants
from wavecom.providers import cli as providers_cli
from wavecom.store import Store


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m wavecom.admin", description="Tenants, API keys and provider accounts"
    )
    nouns = parser.add_subparsers(dest="noun", required=True)

    keys = nouns.add_parser("keys", help="API keys").add_subparsers(dest="verb", required=True)
    create = keys.add_parser("create", help="create a key; it is printed once")
    create.add_argument("--tenant", required=True)
    create.add_argument("--scope", required=True, help="comma-separated: send,read,admin")
    create.add_argument("--name", default="", help="what the key is for")
    create.add_argument("--quiet", action="store_true", help="print only the key")
    listing = keys.add_parser("list", help="list keys (never the keys themselves)")
    listing.add_argument("--tenant")
    revoke = keys.add_parser("revoke", help="revoke a key at once")
    revoke.add_argument("key_id")

    tenants = nouns.add_parser("tenants", help="tenant settings").add_subparsers(
        dest="verb", required=True
    )
    limit = tenants.add_parser("set-limit", help="the rate limit of each of a tenant's keys")
    limit.add_argument("tenant")
    limit.add_argument("--per-second", type=float, required=True)
    limit.add_argument("--burst", type=int, required=True)
    fallback = tenants.add_parser(
        "set-shared-fallback",
        help="off: the tenant's notifications use only the accounts reserved for it and wait "
        "when none is usable, never going to a shared account; on (the default): shared "
        "accounts after its own",
    )
    fallback.add_argument("tenant")
    fallback.add_argument("state", choices=("on", "off"))
    ttl = tenants.add_parser(
        "set-ttl",
        help="the validity (seconds, 1-604800) of the tenant's notifications of a channel whose "
        "create names neither ttlSeconds nor expiresAt; 'off': none (docs/expiry.md)",
    )
    ttl.add_argument("tenant")
    ttl.add_argument("channel", choices=[c.value for c in Channel])
    ttl.add_argument("seconds", help="1-604800, or off")
    tenants.add_parser("list", help="tenants with settings of their own")
    facets = tenants.add_parser(
        "count-facets",
        help="count the status x channel x priority counters of tenants whose stats predate "
        "them, from their documents (default: every such tenant). Run it with the API, the "
        "workers and the relay scaled to zero: a change meanwhile would be missed, and "
        "reconcile would report it as drift",
    )
    facets.add_argument("tenant", nargs="*")
    providers_cli.add_parser(nouns)
    callbacks_cli.add_parser(nouns)
    nouns.add_parser(
        "setup",
        help="create the database's indexes and declare the broker's queues (idempotent; "
        "the chart's pre-install/pre-upgrade hook)",
    )
    return parser


async def run(args: argparse.Namespace, settings: Settings) -> int:
    store = Store.connect(
        settings.mongodb_url, settings.mongodb_database, tls=tls.mongodb_options(settings)
    )
    try:
        if args.noun == "setup":
            return await _setup(settings, store)
        if args.noun == "keys":
            return await _keys(args, Keys(store))
        if args.noun == "providers":
            return await providers_cli.run(args, settings, store)
        if args.noun == "callbacks":
            return await callbacks_cli.run(args, settings, store)
        return await _tenants(args, settings, store)
    finally:
        await store.close()


async def _setup(settings: Settings, store: Store) -> int:
    """What the API and the workers also do at start, done first: a wrong URL or a queue of
    another type fails an install or upgrade here instead of in every new pod."""
    try:
        await store.ensure_indexes()
        print("database: indexes present")
        connection = await connect(
            settings.amqp_url, name="setup", ssl_context=tls.amqp_context(settings)
        )
        try:
            queues = await declare_topology(await connection.channel(), QueueShape.of(settings))
        finally:
            await connection.close()
    except QueueMismatch as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 78  # EX_CONFIG: a new run cannot mend it
    except DependencyUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    kind = settings.queue_type.value
    print(f"broker: {len(queues)} lane queues ({kind}) and their exchanges declared")
    return 0


async def _keys(args: argparse.Namespace, keys: Keys) -> int:
    if args.verb == "create":
        try:
            scopes = parse_scopes(args.scope.split(","))
            key, token = await keys.create(args.tenant, scopes, args.name)
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        if args.quiet:
            print(token)
        else:
            print(f"key id  {key.key_id}\ntenant  {key.tenant}\nscopes  {','.join(sorted(scopes))}")
            print(f"key     {token}\n(store it now: only its hash is kept, it is not shown again)")
        return 0
    if args.verb == "list":
        print(f"{'key id':<18}{'tenant':<20}{'scopes':<18}{'created':<22}{'revoked':<22}name")
        for k in await keys.list(args.tenant):
            print(
                f"{k.key_id:<18}{k.tenant:<20}{','.join(sorted(k.scopes)):<18}"
                f"{k.created_at:%Y-%m-%d %H:%M:%S}   "
                f"{(f'{k.revoked_at:%Y-%m-%d %H:%M:%S}' if k.revoked_at else '-'):<22}{k.name}"
            )
        return 0
    revoked = await keys.revoke(args.key_id)
    if revoked is None:
        print(f"error: no key {args.key_id}", file=sys.stderr)
        return 1
    print(f"revoked {revoked.key_id} (tenant {revoked.tenant})")
    return 0


async def _tenants(args: argparse.Namespace, settings: Settings, store: Store) -> int:
    default = RateLimit(settings.rate_limit_per_s, settings.rate_limit_burst)
    tenants = Tenants(store, default)
    if args.verb == "set-shared-fallback":
        if not valid_tenant(args.tenant):
            print(f"error: {args.tenant!r} is not a tenant id", file=sys.stderr)
            return 2
        await tenants.set_shared_fallback(args.tenant, args.state == "on")
        print(f"{args.tenant}: shared fallback {args.state}")
        return 0
    if args.verb == "set-ttl":
        if not valid_tenant(args.tenant):
            print(f"error: {args.tenant!r} is not a tenant id", file=sys.stderr)
            return 2
        try:
            seconds = None if args.seconds == "off" else int(args.seconds)
            await tenants.set_default_ttl(args.tenant, Channel(args.channel), seconds)
        except ValueError as exc:
            print(f"error: {exc} (or off)", file=sys.stderr)
            return 2
        shown = "none" if seconds is None else f"{seconds} s"
        print(f"{args.tenant}: default TTL of {args.channel} {shown}")
        return 0
    if args.verb == "count-facets":
        return await _count_facets(store, args.tenant)
    if args.verb == "set-limit":
        try:
            await tenants.set_limit(args.tenant, RateLimit(args.per_second, args.burst))
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        print(f"{args.tenant}: {args.per_second:g}/s, burst {args.burst} per key")
        return 0
    print(f"default: {default.per_second:g}/s, burst {default.burst} per key")
    for name, limit in sorted((await tenants.configured()).items()):
        print(f"{name}: {limit.per_second:g}/s, burst {limit.burst} per key")
    for name, ttls in sorted((await tenants.configured_ttls()).items()):
        shown = ", ".join(f"{c.value} {s} s" for c, s in sorted(ttls.items()))
        print(f"{name}: default TTL {shown}")
    for name in sorted(await tenants.without_shared_fallback()):
        print(f"{name}: shared fallback off (only the accounts reserved for it)")
    return 0


async def _count_facets(store: Store, named: list[str]) -> int:
    for tenant in named:
        if not valid_tenant(tenant):
            print(f"error: {tenant!r} is not a tenant id", file=sys.stderr)
            return 2
    for tenant in named or await store.counters.without_facets():
        counts = await store.books.count({"tenantId": tenant})
        await store.counters.set_facets(
            tenant, {(s, c, p): n for (_, c, s, p), n in counts.items()}
        )
        print(f"{tenant}: facets counted from {sum(counts.values()):,} notifications")
    return 0


def main(argv: Sequence[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    sys.exit(asyncio.run(run(args, get_settings())))


if __name__ == "__main__":
    main()
