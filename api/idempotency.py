"""The `Idempotency-Key` request header, read as the IETF httpapi draft writes it.

The draft's key is a Structured Field string: `Idempotency-Key: "8e03978e-…"`. The
bare form this API took before (`Idempotency-Key: gift-order-8812`) is still accepted,
and both spell the same key: `"abc"` and `abc` are one key. A quoted key follows
RFC 8941's sf-string (printable ASCII, `\\"` and `\\\\` the only escapes; parameters after
it are refused); a bare one is the printable ASCII the core checks
(`models.ledger.debits.check_idempotency_key`). A header sent twice is refused: which
one the client meant cannot be known.

Any route that takes a key (debits; later ones likewise) reads it with `read_key` and
hands the text to the core, whose `models.idempotency` decides what the key means.
"""

from __future__ import annotations

from aiohttp import web

from api.errors import ApiError
from models.refusals import Refusal, Refused

HEADER = "Idempotency-Key"


def parse_key(value: str) -> str:
    """The key a header value spells; raises Refused(INVALID_IDEMPOTENCY_KEY)."""
    text = value.strip(" \t")
    if not text.startswith('"'):
        return text  # the bare form: the core checks its characters
    chars: list[str] = []
    index = 1
    while index < len(text):
        char = text[index]
        if char == "\\":
            if index + 1 >= len(text) or text[index + 1] not in '"\\':
                raise Refused(Refusal.INVALID_IDEMPOTENCY_KEY)
            chars.append(text[index + 1])
            index += 2
            continue
        if char == '"':
            if index != len(text) - 1:  # parameters or anything after the string
                raise Refused(Refusal.INVALID_IDEMPOTENCY_KEY)
            return "".join(chars)
        if not " " <= char <= "~":
            raise Refused(Refusal.INVALID_IDEMPOTENCY_KEY)
        chars.append(char)
        index += 1
    raise Refused(Refusal.INVALID_IDEMPOTENCY_KEY)  # no closing quote


def read_key(request: web.Request, *, example: str = "your-purchase-id") -> str:
    """The request's key (unchecked beyond its syntax); 400 when absent or sent twice."""
    values = request.headers.getall(HEADER, [])
    if not values:
        raise ApiError(
            400,
            "missing_idempotency_key",
            f"Send a unique key per request in the header '{HEADER}' (1 to 128 printable "
            f'ASCII characters, e.g. {HEADER}: "{example}"); a retry with the same key is '
            "answered, not done again.",
        )
    if len(values) > 1:
        raise ApiError(
            400,
            "duplicate_idempotency_key",
            f"Send the header '{HEADER}' once.",
        )
    return parse_key(values[0])
