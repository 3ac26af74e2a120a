"""Twilio's status callbacks: ``X-Twilio-Signature`` and ``MessageStatus``.

Twilio POSTs a form to the ``StatusCallback`` URL the driver sent with the message, signed with
the account's auth token: base64 of HMAC-SHA1 over the full URL Twilio called (scheme, host,
path and query) followed by every form field, sorted by name, as name then value. The URL is
the one Twilio was given, which behind a proxy is not the one this process sees: see
:func:`candidate_urls`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable, Sequence
from datetime import datetime

from wavecom.core.constants import Status
from wavecom.core.errors import ReceiptInvalid, ReceiptRejected
from wavecom.store.receipts import ProviderReceipt

SIGNATURE_HEADER = "X-Twilio-Signature"

# Twilio's final message statuses and what they mean here; the others (queued, sending, sent,
# accepted, scheduled) are steps before the end and change nothing
STATUSES: dict[str, Status] = {
    "delivered": Status.DELIVERED,
    "read": Status.DELIVERED,  # WhatsApp and RCS: read implies delivered
    "undelivered": Status.UNDELIVERED,
    "failed": Status.UNDELIVERED,  # after the 201: Twilio could not send it on
}


def signature(url: str, form: Iterable[tuple[str, str]], auth_token: str) -> str:
    """The ``X-Twilio-Signature`` Twilio computes for a POST of ``form`` to ``url``."""
    data = url + "".join(name + value for name, value in sorted(form))
    digest = hmac.new(auth_token.encode(), data.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def candidate_urls(
    seen: str, path_and_query: str, public_base_url: str, configured: str | None
) -> list[str]:
    """The URLs Twilio may have signed: the one the account's settings name, the public base
    URL with this request's path and query (a proxy in front of the API), and the URL this
    process was called at (no proxy)."""
    urls = [u for u in (configured,) if u]
    if public_base_url:
        urls.append(public_base_url.rstrip("/") + path_and_query)
    urls.append(seen)
    return list(dict.fromkeys(urls))


def verify(
    given: str | None, urls: Sequence[str], form: Sequence[tuple[str, str]], auth_token: str
) -> None:
    """Raise :class:`ReceiptRejected` unless ``given`` signs ``form`` at one of ``urls``."""
    if not given:
        raise ReceiptRejected(f"{SIGNATURE_HEADER} is missing")
    if not any(hmac.compare_digest(signature(u, form, auth_token), given) for u in urls):
        raise ReceiptRejected(f"{SIGNATURE_HEADER} does not verify with the account's auth token")


def parse(
    account: str, form: Sequence[tuple[str, str]], account_sid: str, now: datetime
) -> ProviderReceipt | None:
    """The receipt a status callback carries, or None for a status that is not final."""
    fields = dict(form)
    if fields.get("AccountSid", account_sid) != account_sid:
        raise ReceiptRejected("the callback names another Twilio account")
    sid = fields.get("MessageSid") or fields.get("SmsSid")
    status = fields.get("MessageStatus") or fields.get("SmsStatus")
    if not sid:
        raise ReceiptInvalid("MessageSid is required", "MessageSid")
    if not status:
        raise ReceiptInvalid("MessageStatus is required", "MessageStatus")
    mapped = STATUSES.get(status.lower())
    if mapped is None:
        return None
    code = fields.get("ErrorCode") or None
    return ProviderReceipt(
        provider=account,
        message_id=sid,
        status=mapped,
        at=now,
        code=code,
        reason=f"Twilio status {status}" + (f", error {code}" if code else ""),
        source="twilio",
    )
