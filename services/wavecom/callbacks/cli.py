"""``python -m wavecom.admin callbacks ...``: a tenant's callback endpoints and dead letters.

python -m wavecom.admin callbacks add --tenant acme --url https://acme.example/hooks \\
    --events notification.delivered,notification.failed      # prints the secret once
python -m wavecom.admin callbacks list --tenant acme
python -m wavecom.admin callbacks disable|enable|delete|rotate --tenant acme cb_0123456789abcdef
python -m wavecom.admin callbacks dead-letters --tenant acme [--replay]
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from wavecom.callbacks.endpoints import EndpointAdmin, EndpointRefused, SecretsUnsealable
from wavecom.callbacks.payload import ALL_EVENTS
from wavecom.core.settings import Settings
from wavecom.store import Store, utcnow


def add_parser(nouns: Any) -> None:
    """The ``callbacks`` noun and its verbs, on the admin CLI's parser."""
    verbs = nouns.add_parser("callbacks", help="tenants' status callback endpoints")
    sub = verbs.add_subparsers(dest="verb", required=True)
    add = sub.add_parser("add", help="register an endpoint; its secret is printed once")
    add.add_argument("--tenant", required=True)
    add.add_argument("--url", required=True)
    add.add_argument(
        "--events",
        default=",".join(ALL_EVENTS),
        help=f"comma-separated, among {','.join(ALL_EVENTS)} (default: all)",
    )
    add.add_argument("--description", default="")
    listing = sub.add_parser("list", help="a tenant's endpoints (never their secrets)")
    listing.add_argument("--tenant", required=True)
    for verb, text in (
        ("disable", "owe it nothing new and stop its lane"),
        ("enable", "start it again"),
        ("delete", "remove it and every callback it was owed"),
        ("rotate", "a new secret (printed once); the old one signs too for a grace period"),
    ):
        one = sub.add_parser(verb, help=text)
        one.add_argument("--tenant", required=True)
        one.add_argument("endpoint_id")
    dead = sub.add_parser("dead-letters", help="a tenant's parked callbacks")
    dead.add_argument("--tenant", required=True)
    dead.add_argument("--endpoint")
    dead.add_argument("--replay", action="store_true", help="send them all again")


def _show(view: dict[str, Any]) -> None:
    state = "enabled" if view["enabled"] else "disabled"
    print(f"{view['id']}  {state:<9} {view['url']}  {','.join(view['events'])}")


async def run(args: argparse.Namespace, settings: Settings, store: Store) -> int:
    admin = EndpointAdmin(store, settings)
    tenant: str = args.tenant
    try:
        if args.verb == "add":
            view, secret = await admin.create(
                tenant, args.url, [e.strip() for e in args.events.split(",")], args.description
            )
            _show(view)
            print(f"secret  {secret}\n(store it now: it is not shown again)")
            return 0
        if args.verb == "list":
            for view in await admin.list(tenant):
                _show(view)
            return 0
        if args.verb == "dead-letters":
            parked = await store.callbacks.parked(tenant, args.endpoint, 1000)
            for d in parked:
                print(f"{d['_id']}  {d['type']:<24} {d.get('parkedReason') or ''}")
            if args.replay:
                replayed = await store.callbacks.replay(
                    tenant, [d["_id"] for d in parked], utcnow()
                )
                print(f"replayed {len(replayed)}")
            return 0
        if args.verb == "rotate":
            rotated = await admin.rotate(tenant, args.endpoint_id)
            if rotated is None:
                return _missing(args.endpoint_id)
            print(f"secret  {rotated[1]}\n(store it now: it is not shown again)")
            return 0
        if args.verb == "delete":
            deleted = await admin.delete(tenant, args.endpoint_id)
        else:
            deleted = await admin.change(tenant, args.endpoint_id, enabled=args.verb == "enable")
        if deleted is None:
            return _missing(args.endpoint_id)
        print(f"{args.verb}d {args.endpoint_id}")
        return 0
    except (EndpointRefused, SecretsUnsealable) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _missing(endpoint_id: str) -> int:
    print(f"error: no endpoint {endpoint_id} in that tenant", file=sys.stderr)
    return 1
