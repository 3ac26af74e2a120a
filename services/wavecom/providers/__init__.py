"""Provider adapters: the only part of delivery that differs between channels."""

from wavecom.providers.base import Provider, Receipt, SendRequest

__all__ = ["Provider", "Receipt", "SendRequest"]
