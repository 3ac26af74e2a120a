"""The provider account a receipt names, with its secrets open, for the receipt endpoints.

An account is read by its name (``_id``) on every receipt, so a rotated secret or a removed
account counts at once; its credentials are opened (AES-256-GCM, ``CREDENTIALS_KEY``) once per
revision and kept in this process's memory like a worker keeps them. An account that does not
exist, is disabled, has another driver, or has no secret to verify with is refused exactly
like a wrong signature (401): the endpoint says nothing of which accounts exist.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from wavecom.core.errors import ProviderConfigError, ReceiptRejected
from wavecom.core.settings import Settings
from wavecom.providers.accounts import Account
from wavecom.providers.credentials import Cipher
from wavecom.store import Store


@dataclass(frozen=True, slots=True)
class ReceiptAccount:
    name: str
    driver: str
    settings: dict[str, Any]
    credentials: dict[str, Any]


class ReceiptAccounts:
    """Accounts by name, their credentials opened once per revision."""

    def __init__(self, store: Store, settings: Settings) -> None:
        self.store = store
        self.cipher = Cipher.of(settings)
        self._open: dict[str, tuple[int, dict[str, Any]]] = {}

    async def get(self, name: str, drivers: tuple[str, ...]) -> ReceiptAccount:
        """The enabled account ``name`` of one of ``drivers``, or :class:`ReceiptRejected`."""
        doc = await self.store.accounts.get(name)
        refused = ReceiptRejected(f"no {'/'.join(drivers)} account {name!r} takes receipts")
        if doc is None:
            raise refused
        try:
            account = Account.of(doc)
        except ValidationError:
            raise refused from None
        if account.spec.driver not in drivers or not account.spec.enabled:
            raise refused
        return ReceiptAccount(
            account.name, account.spec.driver, dict(account.spec.settings), self._opened(account)
        )

    def _opened(self, account: Account) -> dict[str, Any]:
        if account.sealed is None:
            return {}
        cached = self._open.get(account.name)
        if cached is not None and cached[0] == account.revision:
            return cached[1]
        try:
            plain = self.cipher.open(account.name, account.sealed)
        except ProviderConfigError:
            raise ReceiptRejected(
                f"the credentials of {account.name!r} do not open here (CREDENTIALS_KEY)"
            ) from None
        self._open[account.name] = (account.revision, plain)
        return plain


def secret(account: ReceiptAccount, *names: str) -> str:
    """The first of the credentials ``names`` the account has, or :class:`ReceiptRejected`."""
    for name in names:
        value = account.credentials.get(name)
        if isinstance(value, str) and value:
            return value
    raise ReceiptRejected(f"account {account.name!r} has no {' or '.join(names)} to verify with")
