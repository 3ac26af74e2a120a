"""``python -m wavecom.operator``: the NotificationProvider operator (kopf, standalone).

    python -m wavecom.operator [run] [--namespace NS ...| --all-namespaces] [--liveness URL]
    python -m wavecom.operator crd     # the CRD as YAML (the chart's crds/ file)

One replica (the chart's Deployment uses ``Recreate``): kopf runs ``standalone``, without
peering. Without ``--namespace`` it serves the namespace of its service account (in a pod) or
of the kubeconfig's context.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

import kopf
import uvloop

from wavecom.core import tls
from wavecom.core.errors import DependencyUnavailable, ProviderConfigError
from wavecom.core.logs import setup_logging
from wavecom.core.settings import Settings, get_settings
from wavecom.operator import crd, kube
from wavecom.operator.handlers import REGISTRY, Context, configure
from wavecom.providers.credentials import Cipher
from wavecom.store import Store

log = logging.getLogger("wavecom.operator")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m wavecom.operator", description=__doc__)
    p.add_argument("command", nargs="?", default="run", choices=("run", "crd"))
    where = p.add_mutually_exclusive_group()
    where.add_argument(
        "--namespace", action="append", default=[], help="a namespace to serve (repeatable)"
    )
    where.add_argument("--all-namespaces", action="store_true", help="serve every namespace")
    p.add_argument(
        "--liveness",
        default=None,
        help="serve kopf's liveness probe, e.g. http://0.0.0.0:8080/healthz",
    )
    p.add_argument(
        "--secret-retry-s",
        type=float,
        default=10.0,
        help="how often a provider whose Secret is missing looks for it again",
    )
    return p


async def run(args: argparse.Namespace, settings: Settings) -> None:
    ksettings = kopf.OperatorSettings()
    configure(ksettings)
    info = kube.login(ksettings)
    namespaces: list[str] = args.namespace or [info.default_namespace or "default"]
    cipher = Cipher.of(settings)
    if cipher.current is None:
        log.warning("CREDENTIALS_KEY is not set: providers with credentials will not be Ready")
    store = Store.connect(
        settings.mongodb_url, settings.mongodb_database, tls=tls.mongodb_options(settings)
    )
    api = kube.KubeAPI(lambda: kube.login(ksettings))
    try:
        await store.ensure_indexes()
        log.info(
            "serving NotificationProviders in %s",
            "every namespace" if args.all_namespaces else ", ".join(namespaces),
        )
        await kopf.operator(
            registry=REGISTRY,
            settings=ksettings,
            standalone=True,
            clusterwide=args.all_namespaces,
            namespaces=() if args.all_namespaces else namespaces,
            liveness_endpoint=args.liveness,
            memo=kopf.Memo(
                context=Context(store, cipher, api, args.secret_retry_s, settings.environment)
            ),
        )
    finally:
        await api.close()
        await store.close()


def main(argv: Sequence[str] | None = None) -> None:
    args = parser().parse_args(argv)
    if args.command == "crd":
        sys.stdout.write(crd.as_yaml())
        return
    settings = get_settings()
    setup_logging(settings.log_level, "operator")
    try:
        uvloop.run(run(args, settings))
    except (DependencyUnavailable, kopf.LoginError) as exc:
        log.error("cannot start: %s", exc)
        raise SystemExit(2) from exc
    except ProviderConfigError as exc:  # CREDENTIALS_KEY not valid
        log.error("cannot start: %s", exc)
        raise SystemExit(78) from exc  # EX_CONFIG


if __name__ == "__main__":
    main()
