"""Who is calling /service/…: an app backend holding one of SERVICE_API_KEYS, sent as
`Authorization: Bearer <key>`.

The given key is hashed and compared with every configured key's hash by
`hmac.compare_digest`, all of them every time: the time taken says neither which key
nor how much of one matched, nor how long the keys are. Keys are never logged (the
request log names only the method and path) and never appear in an answer.
"""

from __future__ import annotations

import hashlib
import hmac

from aiohttp import web

from api.errors import ApiError

# SHA-256 of each SERVICE_API_KEYS entry, computed once at start-up.
service_key_digests_key = web.AppKey("service_key_digests", tuple)


def key_digests(keys: list[str]) -> tuple[bytes, ...]:
    return tuple(hashlib.sha256(key.encode()).digest() for key in keys)


# Each key's label (SERVICE_API_KEYS `label:key`), in the order of the digests.
service_key_labels_key = web.AppKey("service_key_labels", tuple)


def authenticate_service(request: web.Request) -> None:
    """Raise 401 invalid_service_key unless the request carries a configured key."""
    service_caller(request)


def service_caller(request: web.Request) -> int:
    """The position of the configured key the request carries (its label is
    `service_key_labels_key`'s entry there); raise 401 invalid_service_key if none."""
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    # "replace": a header that is not valid UTF-8 is simply a wrong key (keys are ASCII).
    digest = hashlib.sha256(given.strip().encode("utf-8", "replace")).digest()
    matched = -1
    digests: tuple[bytes, ...] = request.app[service_key_digests_key]
    for position, expected in enumerate(digests):
        # Every key compared, whichever matched: the time says nothing of which.
        if hmac.compare_digest(digest, expected):
            matched = position
    if scheme.lower() == "bearer" and matched >= 0:
        return matched
    raise ApiError(
        401,
        "invalid_service_key",
        "Send one of the service's API keys as 'Authorization: Bearer <key>'.",
        {"WWW-Authenticate": "Bearer"},
    )
