"""Provider receipts: what each provider reports after it took a send, read and authenticated.

One module per way a provider reports, each verifying the provider's own signature and mapping
its words to a :class:`wavecom.store.receipts.ProviderReceipt`:

- ``twilio``: Twilio's status callbacks (``X-Twilio-Signature``, HMAC-SHA1)
- ``gateway``: the webhook driver's gateway, signed per Standard Webhooks
- ``mailgun``: Mailgun's event webhooks for email relayed through Mailgun (HMAC-SHA256)
- ``dsn``: RFC 3464 delivery status notifications posted by a bank's own mail relay

``accounts`` finds the account a receipt names and its secrets; ``handling`` applies a receipt
(store, counters, metrics, the status event) and sweeps the held ones. FCM reports nothing
after it accepts a message: a push notification stays SENT.
"""
