"""The operator's kopf handlers: plain typed functions (registered with kopf at the end of the
module), so tests call them directly against the real database.

One code path for every way a provider changes: create, update and resume all run
:func:`apply_provider`, which resolves the referenced Secret, calls
:func:`wavecom.providers.accounts.apply` (what the admin CLI calls too) and writes the
``Ready`` and ``CredentialsResolved`` conditions through kopf's ``patch``. Delete runs
:func:`remove_provider` behind kopf's finalizer (``notify.wavecom.io/finalizer``).

**A change of the referenced Secret.** kopf watches Secrets too, only those labelled
``notify.wavecom.io/provider-credentials=true`` (a label selector the API server applies: no
other Secret reaches the operator's memory; a provider naming an unlabelled Secret is refused,
``SecretNotLabelled``). Its handler, :func:`secret_changed`, is an ``on.event`` handler: it
stores nothing on Secrets, no finalizer, no annotation. An index,
:func:`providers_by_secret`, maps ``(namespace, secret)`` to the providers naming it, so a
Secret event costs a dictionary lookup. For each of those providers the handler annotates the
provider with the Secret's ``resourceVersion`` (``secret.notify.wavecom.io/resource-version``).
That annotation is part of what kopf diffs, so kopf sees an update of the provider and runs
:func:`apply_provider` again, with its usual status patch, retries and events. The alternative,
re-applying from the Secret's handler, would need a second way to patch a provider's status,
outside kopf's bookkeeping; the annotation keeps one path and shows on the resource when its
Secret last changed. The initial listing of Secrets at start-up is ignored (the resume handler
applies every provider then).

Errors: a missing Secret, an unreadable API or database is retried (``kopf.TemporaryError``);
a spec, Secret or name the core refuses is permanent for that version of the resource
(``kopf.PermanentError``: no retry loop; the next change of the spec or of the Secret runs it
again). No handler logs credential values: the core's errors name fields, never values.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import kopf
from pymongo.errors import PyMongoError

from wavecom.core.errors import ProviderConfigError, StoreUnavailable
from wavecom.core.settings import Environment
from wavecom.operator import conditions
from wavecom.operator.conditions import CREDENTIALS_RESOLVED, READY, Condition, Reason
from wavecom.operator.crd import GROUP, PLURAL, VERSION
from wavecom.operator.kube import KubeError
from wavecom.operator.kube import login as kube_login
from wavecom.providers import accounts, manifests
from wavecom.providers.credentials import Cipher
from wavecom.store import Store

log = logging.getLogger("wavecom.operator")

REGISTRY = kopf.OperatorRegistry()
API = f"{GROUP}/{VERSION}"
FINALIZER = f"{GROUP}/finalizer"
# changes of the referenced Secret, written by secret_changed; not under GROUP/, which kopf's
# own storages use and its diff ignores
SECRET_VERSION = f"secret.{GROUP}/resource-version"
# the label a Secret a provider names must carry: the operator watches (and so holds in
# memory) only Secrets labelled so, by a server-side label selector; RBAC cannot filter by
# label, so its list/watch permission still covers every Secret of the namespace
SECRET_LABEL = f"{GROUP}/provider-credentials"
SECRET_SELECTOR = f"{SECRET_LABEL}=true"
STORE_RETRY_S = 5.0


class Kubernetes(Protocol):
    """What the handlers need from the API server besides kopf (see :class:`.kube.KubeAPI`)."""

    async def get_secret(self, namespace: str, name: str) -> dict[str, Any] | None: ...

    async def annotate(
        self, api: str, plural: str, namespace: str, name: str, annotations: Mapping[str, str]
    ) -> bool: ...


@dataclass(frozen=True, slots=True)
class Context:
    """What every handler uses, opened once at start-up and kept in kopf's ``memo``."""

    store: Store
    cipher: Cipher
    kube: Kubernetes
    # a missing Secret is looked for again this often (and at once when it is created)
    secret_retry_s: float = 10.0
    # ENVIRONMENT: production refuses mock accounts (Ready False, InvalidSpec, naming it);
    # the strict one by default, so a context built without it cannot let a mock through
    environment: Environment = "production"


def configure(settings: kopf.OperatorSettings) -> None:
    """kopf's settings for this operator: our finalizer and annotation prefix, no scanning.

    With scanning disabled kopf neither lists CRDs nor namespaces (no cluster-wide RBAC): the
    CRD must exist when the operator starts (Helm installs ``crds/`` before anything else).
    """
    settings.persistence.finalizer = FINALIZER
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=GROUP, key="last-handled-configuration"
    )
    settings.scanning.disabled = True
    # a watch that silently stops is restarted at least this often
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    # Secrets: only the labelled ones reach the operator (the API server filters the watch)
    settings.watching.label_selectors["v1", "secrets"] = SECRET_SELECTOR
    # kopf's own per-resource messages become Events (kubectl describe) from warnings up: a
    # handler that failed, and why; successes stay in the log, or every Secret and provider
    # event would add Events too
    settings.posting.loggers = True
    settings.posting.level = logging.WARNING


def source_of(namespace: str, name: str) -> str:
    """The account's owner as the core records it."""
    return f"kubernetes:{namespace}/{name}"


def _namespaced(namespace: str | None) -> str:
    assert namespace is not None, "NotificationProviders and Secrets are namespaced"
    return namespace


def _context(memo: Any) -> Context:
    ctx = memo.context if hasattr(memo, "context") else memo["context"]
    assert isinstance(ctx, Context)
    return ctx


def _credential_problems(message: str) -> tuple[list[str], list[str]]:
    """The core's ``provider 'x' (driver 'y'): a; b`` split into credential and other
    problems (each names a field, e.g. ``credentials.authToken: Field required``)."""
    _, sep, rest = message.partition("): ")
    problems = [p.strip() for p in (rest if sep else message).split("; ") if p.strip()]
    creds = [p for p in problems if p.startswith(("credentials.", "credentials:"))]
    return creds, [p for p in problems if p not in creds]


def _write(
    patch: kopf.Patch,
    status: Mapping[str, Any],
    generation: int,
    *updates: Condition,
    revision: int | None = None,
) -> None:
    before: Sequence[Mapping[str, Any]] = status.get("conditions") or []
    patch.status["conditions"] = conditions.merge(before, updates, generation=generation)
    patch.status["observedGeneration"] = generation
    if revision is not None:
        patch.status["accountRevision"] = revision


Fail = Callable[..., None]


async def _resolve(
    ctx: Context, namespace: str, secret_name: str | None, fail: Fail
) -> tuple[dict[str, str] | None, Condition]:
    """The credentials the Secret holds and the CredentialsResolved condition; or the
    conditions written through ``fail`` and the kopf error raised."""
    if secret_name is None:
        return None, Condition(
            CREDENTIALS_RESOLVED, "True", Reason.NO_SECRET, "no credentialsSecretRef"
        )
    try:
        secret = await ctx.kube.get_secret(namespace, secret_name)
    except KubeError as exc:
        why = f"reading Secret {secret_name!r} failed: {exc}"
        fail(
            Condition(READY, "Unknown", Reason.KUBERNETES_UNAVAILABLE, why),
            Condition(CREDENTIALS_RESOLVED, "Unknown", Reason.KUBERNETES_UNAVAILABLE, why),
        )
        raise kopf.TemporaryError(why, delay=ctx.secret_retry_s) from None
    if secret is None:
        why = f"Secret {secret_name!r} not found in namespace {namespace!r}"
        fail(
            Condition(READY, "False", Reason.SECRET_NOT_FOUND, f"{why}; retrying"),
            Condition(CREDENTIALS_RESOLVED, "False", Reason.SECRET_NOT_FOUND, why),
        )
        raise kopf.TemporaryError(why, delay=ctx.secret_retry_s)
    labels = (secret.get("metadata") or {}).get("labels") or {}
    if labels.get(SECRET_LABEL) != "true":
        # read once with get (RBAC allows it), but its changes would never be seen: refused, and
        # the next change of the Secret (labelled, it enters the watch) re-applies the provider
        why = (
            f"Secret {secret_name!r} lacks the label {SECRET_SELECTOR}: the operator watches "
            "only Secrets labelled so (kubectl label secret "
            f"{secret_name} {SECRET_SELECTOR})"
        )
        fail(
            Condition(READY, "False", Reason.SECRET_NOT_LABELLED, why),
            Condition(CREDENTIALS_RESOLVED, "False", Reason.SECRET_NOT_LABELLED, why),
        )
        raise kopf.PermanentError(why)
    try:
        credentials = manifests.secret_values(secret)
    except ProviderConfigError as exc:
        why = f"Secret {secret_name!r}: {exc}"
        fail(
            Condition(READY, "False", Reason.SECRET_KEY_INVALID, why),
            Condition(CREDENTIALS_RESOLVED, "False", Reason.SECRET_KEY_INVALID, why),
        )
        raise kopf.PermanentError(why) from None
    keys = ", ".join(sorted(credentials)) or "none"
    return credentials, Condition(
        CREDENTIALS_RESOLVED, "True", Reason.RESOLVED, f"Secret {secret_name!r} (keys: {keys})"
    )


async def apply_provider(
    *,
    name: str,
    namespace: str | None,
    spec: Mapping[str, Any],
    status: Mapping[str, Any],
    meta: Mapping[str, Any],
    patch: kopf.Patch,
    memo: Any,
    **_: Any,
) -> None:
    """Resolve the Secret, write the account, and say so in the conditions."""
    ctx = _context(memo)
    ns = _namespaced(namespace)
    generation = int(meta.get("generation") or 0)

    def fail(*updates: Condition) -> None:
        _write(patch, status, generation, *updates)

    try:
        account_spec = manifests.spec_of(name, spec)
        accounts.check_name(name)
    except ProviderConfigError as exc:
        fail(
            Condition(READY, "False", Reason.INVALID_SPEC, str(exc)),
            Condition(CREDENTIALS_RESOLVED, "Unknown", Reason.INVALID_SPEC, "spec not valid"),
        )
        raise kopf.PermanentError(str(exc)) from None

    ref = account_spec.credentials_secret_ref
    credentials, resolved = await _resolve(ctx, ns, ref.name if ref else None, fail)

    try:
        account = await accounts.apply(
            ctx.store,
            ctx.cipher,
            name,
            account_spec,
            credentials,
            source=source_of(ns, name),
            environment=ctx.environment,
        )
    except accounts.AccountConflict as exc:
        fail(Condition(READY, "False", Reason.CONFLICT, str(exc)), resolved)
        raise kopf.PermanentError(str(exc)) from None
    except ProviderConfigError as exc:
        creds, others = _credential_problems(str(exc))
        if creds and ref is not None:
            resolved = Condition(
                CREDENTIALS_RESOLVED,
                "False",
                Reason.SECRET_KEY_INVALID,
                f"Secret {ref.name!r}: {'; '.join(creds)}",
            )
        reason = Reason.INVALID_SPEC if others or ref is None else Reason.SECRET_KEY_INVALID
        fail(Condition(READY, "False", reason, str(exc)), resolved)
        raise kopf.PermanentError(str(exc)) from None
    except (StoreUnavailable, PyMongoError) as exc:
        why = f"the database did not answer: {type(exc).__name__}"
        fail(Condition(READY, "Unknown", Reason.STORE_UNAVAILABLE, why), resolved)
        raise kopf.TemporaryError(why, delay=STORE_RETRY_S) from None

    _write(
        patch,
        status,
        generation,
        Condition(
            READY,
            "True",
            Reason.APPLIED,
            f"account {name!r} revision {account.revision} applied",
        ),
        resolved,
        revision=account.revision,
    )
    log.info("provider %s/%s applied (revision %d)", ns, name, account.revision)


async def remove_provider(*, name: str, namespace: str | None, memo: Any, **_: Any) -> None:
    """Delete the account this resource wrote (never one another source manages); kopf then
    removes its finalizer."""
    ctx = _context(memo)
    try:
        removed = await accounts.remove(
            ctx.store, name, source=source_of(_namespaced(namespace), name)
        )
    except (StoreUnavailable, PyMongoError) as exc:
        raise kopf.TemporaryError(
            f"the database did not answer: {type(exc).__name__}", delay=STORE_RETRY_S
        ) from None
    log.info("provider %s/%s deleted (account removed: %s)", namespace, name, removed)


def providers_by_secret(
    *, name: str, namespace: str | None, spec: Mapping[str, Any], **_: Any
) -> dict[tuple[str, str], str] | None:
    """``(namespace, secret name) -> provider name`` for the providers that reference one."""
    ref = spec.get("credentialsSecretRef")
    secret = ref.get("name") if isinstance(ref, Mapping) else None
    if not isinstance(secret, str) or not secret:
        return None
    return {(_namespaced(namespace), secret): name}


async def secret_changed(
    *,
    type: str | None,  # kopf's name for the watch event's type
    name: str,
    namespace: str | None,
    meta: Mapping[str, Any],
    memo: Any,
    providers_by_secret: kopf.Index[tuple[str, str], str] | None = None,
    **_: Any,
) -> None:
    """A referenced Secret was created, changed or deleted: mark each provider naming it, so
    kopf runs :func:`apply_provider` for it (see the module's docstring)."""
    if type is None or providers_by_secret is None:  # the initial listing: resume does it
        return
    ns = _namespaced(namespace)
    providers = sorted(set(providers_by_secret.get((ns, name), [])))
    if not providers:
        return
    ctx = _context(memo)
    version = str(meta.get("resourceVersion") or type)
    for provider in providers:
        try:
            await ctx.kube.annotate(API, PLURAL, ns, provider, {SECRET_VERSION: version})
        except KubeError as exc:
            # kopf retries nothing for event handlers: the next event, or a resume, re-applies
            log.warning("could not mark provider %s/%s: %s", ns, provider, exc)
    log.info("Secret %s/%s %s: re-applying %s", ns, name, type, ", ".join(providers))


def login(*, settings: kopf.OperatorSettings, **_: Any) -> kopf.ConnectionInfo:
    """kopf's credentials: the same the operator's own calls use (see :func:`.kube.login`)."""
    return kube_login(settings)


# --- registration ---------------------------------------------------------------------------
# Registered by calls rather than decorators: kopf's decorators return the function unchanged,
# but type it as kopf's handler protocol; registering this way keeps each function's own
# signature for the tests (and mypy) that call it directly.
_PROVIDERS = (GROUP, VERSION, PLURAL)
kopf.on.resume(*_PROVIDERS, id="apply", registry=REGISTRY, backoff=10)(apply_provider)
kopf.on.create(*_PROVIDERS, id="apply", registry=REGISTRY, backoff=10)(apply_provider)
kopf.on.update(*_PROVIDERS, id="apply", registry=REGISTRY, backoff=10)(apply_provider)
kopf.on.delete(*_PROVIDERS, id="remove", registry=REGISTRY, backoff=10)(remove_provider)
kopf.index(*_PROVIDERS, registry=REGISTRY)(providers_by_secret)
kopf.on.event("v1", "secrets", registry=REGISTRY)(secret_changed)
kopf.on.login(registry=REGISTRY)(login)
