"""/api/receipts: what providers report after they took a send (docs/receipts.md).

Not behind API keys: a provider has none. Each endpoint authenticates the provider the way
that provider signs, with the secret of the account the path names; a receipt that is unsigned,
wrongly signed, or names no such account is a 401 in the error envelope and changes nothing.
A verified receipt is applied (200 ``applied``), found to change nothing (200 ``ignored``: a
repeat, or a state it may not leave), or held because no notification has its message id yet
(202 ``held``: applied when the outcome is stored, counted as unknown if it never is).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Depends, Path, Request

from wavecom.api.deps import SettingsDep, app_state
from wavecom.api.errors import ApiError
from wavecom.api.receipts import dsn, gateway, mailgun, signed, twilio
from wavecom.api.receipts.accounts import ReceiptAccount, ReceiptAccounts, secret
from wavecom.api.receipts.handling import ReceiptHandler
from wavecom.api.responses import OrjsonResponse
from wavecom.api.schemas import ErrorEnvelope, ReceiptEnvelope
from wavecom.core import metrics
from wavecom.core.errors import ReceiptInvalid, ReceiptRejected
from wavecom.store import utcnow
from wavecom.store.receipts import ProviderReceipt, Result

router = APIRouter(prefix="/api/receipts", tags=["receipts"])

AccountName = Annotated[
    str,
    Path(
        min_length=1,
        max_length=253,
        description="the provider account's name (as `admin providers` or the "
        "NotificationProvider resource names it)",
    ),
]
_RESPONSES: dict[int | str, dict[str, Any]] = {
    202: {"model": ReceiptEnvelope, "description": "Held: no notification has this id yet"},
    400: {"model": ErrorEnvelope, "description": "Signed, but not a receipt this endpoint reads"},
    401: {
        "model": ErrorEnvelope,
        "description": "Unsigned, wrongly signed, or no such account: nothing changed",
    },
    503: {"model": ErrorEnvelope, "description": "Database unavailable: the provider retries"},
}
_STANDARD_WEBHOOKS: list[dict[str, Any]] = [
    {
        "name": name,
        "in": "header",
        "required": True,
        "schema": {"type": "string"},
        "description": what,
    }
    for name, what in (
        ("webhook-id", "the message's id (Standard Webhooks)"),
        ("webhook-timestamp", "Unix seconds; refused when more than 5 minutes from now"),
        ("webhook-signature", "`v1,<base64 HMAC-SHA256 of id.timestamp.body>`, space-separated"),
    )
]


HandlerDep = Annotated[ReceiptHandler, Depends(app_state("receipts"))]
AccountsDep = Annotated[ReceiptAccounts, Depends(app_state("receipt_accounts"))]


def _body(content_type: str, schema: dict[str, Any]) -> dict[str, Any]:
    """The OpenAPI request body of a receipt endpoint: required, of one content type."""
    return {"required": True, "content": {content_type: {"schema": schema}}}


# checks a receipt's signature with the secret of the account it names, then reads it
# (None: a status that is not final); ReceiptRejected (401) or ReceiptInvalid (400) otherwise
Verifier = Callable[[Request, bytes, ReceiptAccount], ProviderReceipt | None]


async def _receive(
    endpoint: str,
    drivers: tuple[str, ...],
    account: str,
    request: Request,
    handler: ReceiptHandler,
    accounts: ReceiptAccounts,
    verify: Verifier,
) -> OrjsonResponse:
    """Find the account ``account`` (of one of ``drivers``), verify and read the receipt with
    ``verify``, then apply it; the answer the provider gets."""
    try:
        body = await request.body()
        receipt = verify(request, body, await accounts.get(account, drivers))
    except ReceiptRejected as exc:
        metrics.RECEIPTS_REFUSED.labels(endpoint, "401").inc()
        raise ApiError(401, "UNAUTHORIZED", f"Receipt refused: {exc}") from None
    except ReceiptInvalid as exc:
        metrics.RECEIPTS_REFUSED.labels(endpoint, "400").inc()
        raise ApiError(
            400,
            "VALIDATION_ERROR",
            f"Invalid receipt: {exc}",
            [{"field": exc.field, "message": str(exc)}],
        ) from None
    if receipt is None:
        return OrjsonResponse({"success": True, "data": {"result": "notFinal"}})
    result = await handler.take(receipt)
    return OrjsonResponse(
        {"success": True, "data": {"result": result.value, "status": receipt.status.value}},
        status_code=202 if result is Result.HELD else 200,
    )


def _gateway(request: Request, body: bytes, found: ReceiptAccount) -> ProviderReceipt | None:
    signed.verify(request.headers, body, secret(found, "secret"))
    return gateway.parse(found.name, body, utcnow())


def _mailgun(request: Request, body: bytes, found: ReceiptAccount) -> ProviderReceipt | None:
    try:
        doc = mailgun.read(body)
    except ReceiptInvalid:
        raise ReceiptRejected("unsigned: the body is not a JSON object") from None
    mailgun.verify(doc, secret(found, "mailgunSigningKey", "mailgun_signing_key"))
    return mailgun.parse(found.name, doc, utcnow())


def _dsn(request: Request, body: bytes, found: ReceiptAccount) -> ProviderReceipt | None:
    signed.verify(request.headers, body, secret(found, "receiptsSecret", "receipts_secret"))
    return dsn.parse(found.name, body, utcnow())


@router.post(
    "/twilio/{account}",
    response_model=ReceiptEnvelope,
    responses=_RESPONSES,
    summary="Twilio status callback",
    openapi_extra={
        "parameters": [
            {
                "name": "X-Twilio-Signature",
                "in": "header",
                "required": True,
                "schema": {"type": "string"},
                "description": "base64 HMAC-SHA1, keyed by the account's auth token, of the "
                "URL Twilio called followed by each form field (sorted by name) as name+value",
            }
        ],
        "requestBody": _body(
            "application/x-www-form-urlencoded",
            {
                "type": "object",
                "required": ["MessageSid", "MessageStatus"],
                "properties": {
                    "MessageSid": {"type": "string"},
                    "MessageStatus": {"type": "string"},
                    "ErrorCode": {"type": "string"},
                    "AccountSid": {"type": "string"},
                },
            },
        ),
    },
)
async def twilio_status(
    account: AccountName,
    request: Request,
    handler: HandlerDep,
    accounts: AccountsDep,
    settings: SettingsDep,
) -> OrjsonResponse:
    """Twilio's status callback for a message sent through the Twilio account `account`:
    `delivered` (and `read`) is DELIVERED, `undelivered` and `failed` are UNDELIVERED with
    Twilio's `ErrorCode`; earlier statuses change nothing. The signature is checked against
    the URL Twilio was given: the account's `statusCallback`, else `PUBLIC_BASE_URL` with
    this path."""

    def verify(request: Request, body: bytes, found: ReceiptAccount) -> ProviderReceipt | None:
        try:
            form = parse_qsl(body.decode(), keep_blank_values=True, strict_parsing=bool(body))
        except (UnicodeDecodeError, ValueError):
            raise ReceiptRejected("unsigned: the body is not a form") from None
        url = request.url
        twilio.verify(
            request.headers.get(twilio.SIGNATURE_HEADER),
            twilio.candidate_urls(
                str(url),
                url.path + (f"?{url.query}" if url.query else ""),
                settings.public_base_url,
                found.settings.get("statusCallback") or found.settings.get("status_callback"),
            ),
            form,
            secret(found, "authToken", "auth_token"),
        )
        return twilio.parse(found.name, form, secret(found, "accountSid", "account_sid"), utcnow())

    return await _receive("twilio", ("twilio",), account, request, handler, accounts, verify)


@router.post(
    "/webhook/{account}",
    response_model=ReceiptEnvelope,
    responses=_RESPONSES,
    summary="A webhook gateway's receipt",
    openapi_extra={
        "parameters": _STANDARD_WEBHOOKS,
        "requestBody": _body(
            "application/json",
            {
                "type": "object",
                "required": ["data"],
                "properties": {
                    "type": {"type": "string", "example": "message.status"},
                    "data": {
                        "type": "object",
                        "required": ["messageId", "status"],
                        "properties": {
                            "messageId": {"type": "string"},
                            "status": {
                                "type": "string",
                                "description": "delivered, undelivered, bounced or "
                                "complained; any other changes nothing",
                            },
                            "code": {"type": "string"},
                            "reason": {"type": "string"},
                            "at": {"type": "string", "format": "date-time"},
                        },
                    },
                },
            },
        ),
    },
)
async def gateway_receipt(
    account: AccountName, request: Request, handler: HandlerDep, accounts: AccountsDep
) -> OrjsonResponse:
    """A receipt from the gateway behind the webhook account `account`, signed per Standard
    Webhooks with that account's secret (the scheme the driver signs its sends with).
    `messageId` is the id the gateway answered the send with (else the send's
    `webhook-id`)."""
    return await _receive("webhook", ("webhook",), account, request, handler, accounts, _gateway)


@router.post(
    "/mailgun/{account}",
    response_model=ReceiptEnvelope,
    responses=_RESPONSES,
    summary="Mailgun event webhook",
    openapi_extra={
        "requestBody": _body(
            "application/json",
            {
                "type": "object",
                "required": ["signature", "event-data"],
                "properties": {
                    "signature": {
                        "type": "object",
                        "required": ["timestamp", "token", "signature"],
                        "properties": {
                            "timestamp": {"type": "string"},
                            "token": {"type": "string"},
                            "signature": {
                                "type": "string",
                                "description": "hex HMAC-SHA256 of timestamp+token, "
                                "keyed by the account's mailgunSigningKey",
                            },
                        },
                    },
                    "event-data": {"type": "object"},
                },
            },
        ),
    },
)
async def mailgun_event(
    account: AccountName, request: Request, handler: HandlerDep, accounts: AccountsDep
) -> OrjsonResponse:
    """Mailgun's event webhook for email the SMTP account `account` relays through Mailgun:
    `delivered` is DELIVERED, a permanent `failed` BOUNCED, `complained` COMPLAINED; the
    message is found by the `Message-ID` the driver set."""

    return await _receive("mailgun", ("smtp",), account, request, handler, accounts, _mailgun)


@router.post(
    "/dsn/{account}",
    response_model=ReceiptEnvelope,
    responses=_RESPONSES,
    summary="A delivery status notification (RFC 3464)",
    openapi_extra={
        "parameters": _STANDARD_WEBHOOKS,
        "requestBody": _body(
            "message/rfc822",
            {
                "type": "string",
                "description": "the multipart/report; report-type=delivery-status "
                "message as the relay would mail it",
            },
        ),
    },
)
async def delivery_status(
    account: AccountName, request: Request, handler: HandlerDep, accounts: AccountsDep
) -> OrjsonResponse:
    """An RFC 3464 report posted by the relay of the SMTP account `account`, signed per
    Standard Webhooks with the account's `receiptsSecret`: `Action: failed` is BOUNCED (with
    its `Status` code), `Action: delivered` DELIVERED; the original message is found by the
    `Message-ID` the report returns."""

    return await _receive("dsn", ("smtp",), account, request, handler, accounts, _dsn)
