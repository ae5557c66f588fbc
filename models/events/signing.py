"""How an event is signed: the Standard Webhooks headers, and the older `Stars-Signature`.

Standard Webhooks (standardwebhooks.com, spec 1.0.0, scheme `v1`): `webhook-id` is the
event's id, the same on every attempt; `webhook-timestamp` the attempt's Unix seconds;
`webhook-signature` a space-separated list of `v1,<base64 HMAC-SHA256 of
"{id}.{timestamp}.{body}">`, one per secret, so a receiver keeps verifying while the
operator rotates EVENTS_SECRET (the previous one is signed with too).

The key of a `whsec_<base64>` secret is the bytes that base64 stands for (what the
maintained libraries take it to mean); the key of any other secret is its text as
UTF-8, unchanged, so a secret configured before these headers existed needs nothing
new (its `whsec_` form for a library is `"whsec_" + base64(secret)`).

`Stars-Signature: t=<timestamp>,v1=<hex HMAC-SHA256 of "<t>.<body>">` stays beside
them for receivers written before: keyed, as it always was, by the whole
EVENTS_SECRET text, `whsec_` and all, and by the current secret only.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from dataclasses import dataclass

SECRET_PREFIX = "whsec_"
MIN_KEY_BYTES = 24  # the spec's smallest secret; a shorter `whsec_` key is refused


class SecretProblem(ValueError):
    """An EVENTS_SECRET that cannot be a key; the message never quotes it."""


def webhook_key(secret: str) -> bytes:
    """The HMAC key a secret stands for under Standard Webhooks (see the module doc)."""
    if not secret.startswith(SECRET_PREFIX):
        return secret.encode()
    encoded = secret.removeprefix(SECRET_PREFIX)
    try:
        # Standard base64 with its padding, which the Node library requires; anything
        # else is refused rather than read as some other key no receiver would verify.
        key = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise SecretProblem("must be whsec_ followed by base64 (with its = padding)") from None
    if len(key) < MIN_KEY_BYTES:
        raise SecretProblem(f"must stand for at least {MIN_KEY_BYTES} bytes after whsec_")
    return key


@dataclass(frozen=True, slots=True)
class SigningKeys:
    """The keys an event is signed with: `webhook` the current secret's first, then the
    previous one's while it is still configured; `legacy` for Stars-Signature."""

    webhook: tuple[bytes, ...]
    legacy: bytes

    @classmethod
    def from_secrets(cls, current: str, previous: str | None = None) -> SigningKeys:
        keys = [webhook_key(current)]
        if previous is not None and webhook_key(previous) != keys[0]:
            keys.append(webhook_key(previous))
        return cls(tuple(keys), current.encode())


def webhook_signature(keys: tuple[bytes, ...], event_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` value: `v1,<base64>` per key, separated by spaces."""
    signed = f"{event_id}.{timestamp}.".encode() + body
    return " ".join(
        "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
        for key in keys
    )


def stars_signature(key: bytes, timestamp: int, body: bytes) -> str:
    """The `Stars-Signature` value: HMAC-SHA256 of "<timestamp>.<raw body>", hex."""
    digest = hmac.new(key, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def signed_headers(
    keys: SigningKeys, event_id: str, timestamp: int, body: bytes
) -> dict[str, str]:
    """Every header an event is sent with (the body is JSON)."""
    return {
        "Content-Type": "application/json",
        "webhook-id": event_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": webhook_signature(keys.webhook, event_id, timestamp, body),
        "Stars-Event-Id": event_id,
        "Stars-Signature": stars_signature(keys.legacy, timestamp, body),
    }
