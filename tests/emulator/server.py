"""A Telegram Bot API emulator good enough to run real aiogram polling against.

It speaks the wire format (`/bot<token>/<method>`, JSON, urlencoded and multipart
bodies, `{"ok": ...}` answers with Telegram's error texts) and plays the other side
too: the paying user (pre-checkout, wait for the bot's answer, successful payment),
Telegram's Stars ledger (getStarTransactions, refunds) and a fault injector.

Like the real server it labels a sale `invoice_payment` or, when Telegram sent no
product information with it, `paid_media_payment` (`sale_label`, per sale or for all
from now on), and it never hands out a message update dated 24 hours or more before its
clock (`advance_clock` moves that clock; `charge(date=...)` dates a payment in the past).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import itertools
import json
import math
import random
import re
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from aiohttp import web

from tests.helpers import OTHER_TOKEN, TOKEN

TOKEN_RE = re.compile(r"^(\d+):[A-Za-z0-9_-]+$")
# The bots this Telegram knows unless told others (`tokens=`, `add_token`): the tests'.
TEST_TOKENS = (TOKEN, OTHER_TOKEN)
INVOICE_RE = re.compile(r"^https?://t\.me/(?:\$|invoice/)([A-Za-z0-9\-_=]+)$")
# Telegram's default when allowed_updates was never set: everything but these.
NOT_BY_DEFAULT = {"chat_member", "message_reaction", "message_reaction_count"}
PRECHECKOUT_DEADLINE = 10.0
# The real server drops a message update once its date is a day old (Client.cpp: the
# update lives `message_date + 86400 - now` seconds; an older message is never queued).
UPDATE_LIFETIME = 86_400
MESSAGE_UPDATES = {
    "message",
    "edited_message",
    "channel_post",
    "edited_channel_post",
    "business_message",
    "edited_business_message",
}
# How the real server labels a bot's sale (Client.cpp, JsonStarTransactionType): an
# invoice sale when Telegram sends the product information with it, else a paid-media
# sale with no media and the payload in `paid_media_payload`.
SaleLabel = Literal["invoice_payment", "paid_media_payment"]
JSON_FIELDS = {
    "allowed_updates",
    "prices",
    "reply_markup",
    "commands",
    "scope",
    "suggested_tip_amounts",
    "link_preview_options",
    "entities",
    "reply_parameters",
}
INT_FIELDS = {
    "offset",
    "limit",
    "timeout",
    "user_id",
    "subscription_period",
    "max_tip_amount",
    "photo_size",
    "photo_width",
    "photo_height",
    "month_count",
    "star_count",
}
BOOL_FIELDS = {"ok", "drop_pending_updates", "is_flexible", "pay_for_upgrade"}
# Premium as giftPremiumSubscription sells it: months -> the exact Stars it costs.
PREMIUM_PRICES = {3: 1000, 6: 1500, 12: 2500}


def catalog_gift(
    gift_id: str, emoji: str, star_count: int, **limits: int | bool
) -> dict[str, Any]:
    """A Gift as getAvailableGifts lists it (the limit fields only for limited gifts)."""
    gift: dict[str, Any] = {
        "id": gift_id,
        "sticker": {
            "file_id": f"CAACAgIAAxUAAWj{gift_id[-6:]}",
            "file_unique_id": f"AgAD{gift_id[-6:]}",
            "type": "custom_emoji",
            "width": 512,
            "height": 512,
            "is_animated": True,
            "is_video": False,
            "emoji": emoji,
        },
        "star_count": star_count,
    }
    gift.update(limits)
    return gift


def default_catalog() -> list[dict[str, Any]]:
    """A teddy bear and a heart as anyone may send, a limited gift with a few left, and
    one sold out."""
    return [
        catalog_gift("5170233102089322756", "🧸", 15, upgrade_star_count=25),
        catalog_gift("5170145012310081615", "💝", 15),
        catalog_gift("5170314324215857265", "💐", 50, total_count=1000, remaining_count=500),
        catalog_gift("5168043875654172773", "🏆", 100, total_count=100, remaining_count=0),
    ]


# What the real server calls a JSON field it cannot parse, where not the field's name.
JSON_NAMES = {"reply_markup": "reply keyboard markup"}
# The request being handled, for methods that watch their caller (getUpdates).
_request: contextvars.ContextVar[web.Request] = contextvars.ContextVar("request")


def new_charge_id() -> str:
    """A `telegram_payment_charge_id` shaped like real Stars ones: "stx" and 128 more
    characters (real ids run from 110 to past 128; the short ids of an early emulator
    hid a column that was too narrow)."""
    return "stx" + secrets.token_urlsafe(96)


class ApiError(Exception):
    def __init__(self, code: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.retry_after = retry_after

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "ok": False,
            "error_code": self.code,
            "description": self.description,
        }
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return body


def bad_request(text: str) -> ApiError:
    return ApiError(400, f"Bad Request: {text}")


def required(name: str) -> ApiError:
    # Client.cpp says `Parameter "x" is required`; its error path lowers the first
    # letter of a text whose second letter is not upper case or "_".
    return bad_request(f'parameter "{name}" is required')


def to_integer(value: Any) -> int:
    """A number as the real server reads one (td::to_integer): an optional minus and
    the digits that follow, 0 when there are none; the rest is ignored."""
    if isinstance(value, int):
        return value
    match = re.match(r"-?\d*", str(value))
    digits = match.group(0) if match else ""
    return int(digits) if digits.lstrip("-") else 0


def token_problem(token: str) -> str | None:
    """Why the real server refuses a token before asking Telegram about it
    (ClientManager::send), or None."""
    bot_id = token.split(":", 1)[0]
    if (
        not token
        or token[0] == "0"
        or len(token) > 80
        or "/" in token
        or ":" not in token
        or not bot_id.isdigit()
        or not 0 < int(bot_id) < 2**54
    ):
        return "Unauthorized: invalid token specified"
    return None


def new_query_id() -> str:
    """A pre-checkout query id as the real server writes one: a random signed 64-bit
    integer in decimal (TDLib's query ids), never 0."""
    return str(random.choice([-1, 1]) * random.randint(1, 2**63 - 1))


@dataclass
class ChatFault:
    """What sending a message to one chat does instead, as the real server answers it:
    `blocked` (the user blocked the bot: 403 until they unblock), `not_found` (a chat
    the bot cannot see: 400), `flood` (Telegram's flood limit: 429 with retry_after,
    for that long from the first refused message, then messages go again)."""

    kind: Literal["blocked", "not_found", "flood"]
    retry_after: int = 5
    until: float | None = None  # a flood's end, once it started


@dataclass
class Fault:
    """What a method does instead of answering normally."""

    # "lost" and "error_after" do what was asked first (a purchase is made), then the
    # answer never comes (held until healed) or is a 5xx: an unknown outcome for the caller.
    kind: Literal["error", "retry_after", "hang", "slow", "refuse", "lost", "error_after"]
    status: int = 500
    retry_after: int = 1
    delay: float = 0.0
    times: int | None = None  # None: until cleared
    description: str | None = None


@dataclass
class PendingQuery:
    future: asyncio.Future[tuple[bool, str | None]]
    created: float
    answered_after: float | None = None


@dataclass
class PaymentOutcome:
    status: Literal["paid", "rejected", "timeout"]
    charge_id: str | None = None
    error_message: str | None = None
    answer_seconds: float | None = None


@dataclass
class Poll:
    """One getUpdates: through which door it came (`door_url`; "" for the plain URL),
    when it started and ended (wall-clock seconds, comparable with database times),
    and how: "answered", "conflict" (ended by another poll or a webhook), "abandoned"
    (the caller hung up first) or "open" (still waiting)."""

    door: str
    started: float
    ended: float | None = None
    outcome: str = "open"
    updates: int = 0


@dataclass
class BotState:
    token: str
    bot_id: int
    updates: list[dict[str, Any]] = field(default_factory=list)
    dropped: list[dict[str, Any]] = field(default_factory=list)
    # Updates a day old before anyone fetched them: never delivered.
    expired: list[dict[str, Any]] = field(default_factory=list)
    delivered: list[dict[str, Any]] = field(default_factory=list)
    allowed_updates: list[str] | None = None
    webhook_url: str = ""
    active_poll: asyncio.Future[str] | None = None
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    queries: dict[str, PendingQuery] = field(default_factory=dict)
    transactions: list[dict[str, Any]] = field(default_factory=list)
    payments: dict[str, dict[str, Any]] = field(default_factory=dict)
    refunded: set[str] = field(default_factory=set)
    messages: list[dict[str, Any]] = field(default_factory=list)
    commands: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    star_balance: dict[str, int] | None = None  # None: the sum of unrefunded payments
    polls: list[Poll] = field(default_factory=list)
    chat_faults: dict[int, ChatFault] = field(default_factory=dict)
    # Stars the bot spent on gifts and Premium (taken from getMyStarBalance).
    spent: int = 0
    # Seconds a purchase takes to show in getStarTransactions (rows that appear late).
    purchase_row_delay: float = 0.0
    purchases: list[dict[str, Any]] = field(default_factory=list)
    late_rows: list[dict[str, Any]] = field(default_factory=list)

    @property
    def user(self) -> dict[str, Any]:
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": "Stars Test Bot",
            "username": f"stars_test_{self.bot_id}_bot",
        }

    def calls_of(self, method: str) -> list[dict[str, Any]]:
        return [params for name, params in self.calls if name == method.lower()]


class BotApiEmulator:
    def __init__(
        self,
        *,
        transactions_order: Literal["asc", "desc"] = "asc",
        sandbox_token: str | None = None,
        latency: float = 0.0,
        jitter: float = 0.2,
        sale_label: SaleLabel = "invoice_payment",
        tokens: Iterable[str] = TEST_TOKENS,
    ) -> None:
        self.sandbox_token = sandbox_token
        # Every other token is answered 401 Unauthorized, as Telegram answers it.
        known = list(tokens)
        self.tokens = set(known)
        # The bot a control call means when it names none: the first given, not whichever
        # the set's hash order puts first (that differs from one process to the next).
        self.default_token = known[0] if known else ""
        self.sale_label: SaleLabel = sale_label
        self.clock_offset = 0.0
        self.set_latency(latency, jitter)
        self.bots: dict[str, BotState] = {}
        self.invoices: dict[str, dict[str, Any]] = {}
        self.faults: dict[str, Fault] = {}
        self.gift_catalog: list[dict[str, Any]] = default_catalog()
        self._later: set[asyncio.TimerHandle] = set()
        self._healed = asyncio.Event()
        self.transactions_order = transactions_order
        self._ids = itertools.count(1)
        self._update_ids = itertools.count(1)
        self.url = ""
        self._runner: web.AppRunner | None = None
        self.app = self.make_app()

    # ------------------------------------------------------------ life cycle

    def make_app(self) -> web.Application:
        app = web.Application(client_max_size=50 * 1024**2)
        app.router.add_route("*", "/bot{token}/test/{method}", self._handle)
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        app.router.add_route("*", "/door/{door}/bot{token}/test/{method}", self._handle)
        app.router.add_route("*", "/door/{door}/bot{token}/{method}", self._handle)
        from tests.emulator.control import add_control_routes

        add_control_routes(app, self)
        return app

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        self._runner = web.AppRunner(
            self.app, handle_signals=False, access_log=None, shutdown_timeout=0.5
        )
        await self._runner.setup()
        self._site = web.TCPSite(self._runner, host, port)
        await self._site.start()
        sockets = self._site._server.sockets  # type: ignore[union-attr]
        self._address = (host, sockets[0].getsockname()[1])
        self.url = f"http://{host}:{self._address[1]}"
        return self.url

    @property
    def connections(self) -> int:
        """Connections open to the emulator now, from every client."""
        server = self._runner.server if self._runner is not None else None
        return len(server.connections) if server is not None else 0

    async def stop(self) -> None:
        for handle in self._later:
            handle.cancel()
        for state in self.bots.values():
            if state.active_poll and not state.active_poll.done():
                state.active_poll.set_result("stopped")
        if self._runner is not None:
            await self._runner.cleanup()

    def door_url(self, door: str) -> str:
        """A base URL for one client of many on the same token: its getUpdates calls
        are recorded under `door` (BotState.polls), so a test can tell who polls."""
        return f"{self.url}/door/{door}"

    # ------------------------------------------------------------ helpers

    def add_token(self, token: str) -> None:
        """Make a bot known: its calls are answered from now on."""
        self.tokens.add(token)

    def _known_bot(self, token: str) -> BotState:
        """The state of a bot calling the API, or the real server's 401."""
        problem = token_problem(token)
        if problem is not None:
            raise ApiError(401, problem)
        if token not in self.tokens and token != self.sandbox_token:
            raise ApiError(401, "Unauthorized")  # what Telegram says of a token it never issued
        return self.bot(token)

    def set_chat_fault(self, token: str, chat_id: int, fault: ChatFault) -> None:
        """Make messages to one chat fail as the real server fails them."""
        self.bot(token).chat_faults[chat_id] = fault

    def bot(self, token: str) -> BotState:
        match = TOKEN_RE.match(token)
        if match is None:
            raise ApiError(401, "Unauthorized")
        if token not in self.bots:
            self.bots[token] = BotState(token=token, bot_id=int(match.group(1)))
        return self.bots[token]

    def now(self) -> float:
        """Telegram's clock: the wall clock, moved on by `advance_clock`."""
        return time.time() + self.clock_offset

    def advance_clock(self, seconds: float) -> None:
        """Let time pass at Telegram (dates of new messages and transactions, and the
        age of waiting updates): a day on, nothing waiting from before is delivered."""
        self.clock_offset += seconds

    def set_sale_label(self, label: SaleLabel) -> None:
        """How sales and refunds made from now on are labelled in getStarTransactions."""
        self.sale_label = label

    def _expired(self, update: dict[str, Any]) -> bool:
        for kind in MESSAGE_UPDATES & update.keys():
            message = update[kind]
            date = message.get("edit_date") or message.get("date")
            if isinstance(date, int) and date <= self.now() - UPDATE_LIFETIME:
                return True
        return False

    def _drop_expired(self, state: BotState) -> None:
        if any(self._expired(update) for update in state.updates):
            state.expired.extend(u for u in state.updates if self._expired(u))
            state.updates = [u for u in state.updates if not self._expired(u)]

    def push_update(self, state: BotState, kind: str, payload: dict[str, Any]) -> dict[str, Any]:
        update = {"update_id": next(self._update_ids), kind: payload}
        allowed = state.allowed_updates
        accepted = kind in allowed if allowed else kind not in NOT_BY_DEFAULT
        if not accepted:  # Telegram filters when the update is created
            state.dropped.append(update)
            return update
        if self._expired(update):  # a message from a day ago is never queued
            state.expired.append(update)
            return update
        state.updates.append(update)
        state.changed.set()
        state.changed = asyncio.Event()
        return update

    def _message(
        self, user: dict[str, Any], chat: dict[str, Any] | None = None, **content: Any
    ) -> dict[str, Any]:
        """A message from `user`: in their private chat with the bot, or in `chat` (a
        group: {"id": -100..., "type": "supergroup", "title": ...})."""
        if chat is None:
            chat = {"id": user["id"], "type": "private", "first_name": user.get("first_name", "")}
        return {
            "message_id": next(self._ids),
            "date": int(self.now()),
            "chat": chat,
            "from": {"is_bot": False, "first_name": "User", **user},
            **content,
        }

    def send_text(
        self, token: str, user: dict[str, Any], text: str, chat: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """The user writes to the bot (a command, usually), privately or in a group `chat`."""
        entities = []
        if text.startswith("/"):
            entities.append({"type": "bot_command", "offset": 0, "length": len(text.split()[0])})
        message = self._message(user, chat, text=text, entities=entities)
        return self.push_update(self.bot(token), "message", message)

    def messages_to(self, token: str, chat_id: int) -> list[dict[str, Any]]:
        return [m for m in self.bot(token).messages if m["chat"]["id"] == chat_id]

    async def wait_for_message(
        self, token: str, chat_id: int, count: int = 1, timeout: float = 10.0
    ) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.messages_to(token, chat_id)
            if len(found) >= count:
                return found
            await asyncio.sleep(0.02)
        raise AssertionError(
            f"expected {count} messages to {chat_id}, got {self.messages_to(token, chat_id)}"
        )

    def set_latency(self, seconds: float, jitter: float = 0.2) -> None:
        """A Telegram that far away: every method but getUpdates answers `seconds` later
        (give or take `jitter` of it, uniformly), half of it on the way in (the method
        takes effect then: a pre-checkout answer counts from there) and half on the way
        out. getUpdates is a long poll: its answer is already waiting for the update."""
        if seconds < 0 or not 0 <= jitter <= 1:
            raise ValueError("latency must be >= 0 and jitter between 0 and 1")
        self.latency = seconds
        self.jitter = jitter

    def _one_way(self) -> float:
        return self.latency * random.uniform(1 - self.jitter, 1 + self.jitter) / 2

    def set_fault(self, method: str, fault: Fault) -> None:
        """Make one method (or "*" for every method) misbehave."""
        self.faults[method.lower()] = fault

    def clear_faults(self) -> None:
        """Heal: no more faults, and requests hanging now get their answers."""
        self.faults.clear()
        for state in self.bots.values():
            state.chat_faults.clear()
        self._healed.set()
        self._healed = asyncio.Event()

    # ------------------------------------------------------------ the paying user

    def invoice(self, invoice_url: str) -> dict[str, Any]:
        match = INVOICE_RE.match(invoice_url)
        if match is None or match.group(1) not in self.invoices:
            raise KeyError(f"no such invoice link: {invoice_url}")
        return self.invoices[match.group(1)]

    async def checkout(
        self, invoice_url: str, user: dict[str, Any], *, deadline: float = PRECHECKOUT_DEADLINE
    ) -> PaymentOutcome:
        """Press Pay: send a pre_checkout_query and wait for the bot's answer."""
        invoice = self.invoice(invoice_url)
        state = self.bot(invoice["token"])
        query_id = new_query_id()
        loop = asyncio.get_running_loop()
        pending = PendingQuery(loop.create_future(), time.monotonic())
        state.queries[query_id] = pending
        self.push_update(
            state,
            "pre_checkout_query",
            {
                "id": query_id,
                "from": {"is_bot": False, "first_name": "User", **user},
                "currency": invoice["currency"],
                "total_amount": invoice["amount"],
                "invoice_payload": invoice["payload"],
            },
        )
        try:
            ok, error = await asyncio.wait_for(asyncio.shield(pending.future), deadline)
        except TimeoutError:
            return PaymentOutcome("timeout")
        if not ok:
            return PaymentOutcome(
                "rejected", error_message=error, answer_seconds=pending.answered_after
            )
        return PaymentOutcome("paid", answer_seconds=pending.answered_after)

    def charge(
        self,
        invoice_url: str,
        user: dict[str, Any],
        *,
        deliver: bool = True,
        repeat: int = 1,
        date: int | None = None,
        label: SaleLabel | None = None,
    ) -> str:
        """Telegram takes the Stars: record the transaction and tell the bot (or not).
        `date` (Unix time) backdates it, in the Stars ledger and in the update (which
        is never delivered if that is a day before the emulator's clock); `label`
        overrides `sale_label` for this sale."""
        invoice = self.invoice(invoice_url)
        state = self.bot(invoice["token"])
        payer = {"is_bot": False, "first_name": "User", **user}
        charge_id: str = self.add_transaction(
            invoice["token"],
            {
                "amount": invoice["amount"],
                "date": int(self.now()) if date is None else date,
                "source": self.sale_partner(payer, invoice["payload"], label),
            },
        )["id"]
        message = self._message(
            user,
            successful_payment={
                "currency": invoice["currency"],
                "total_amount": invoice["amount"],
                "invoice_payload": invoice["payload"],
                "telegram_payment_charge_id": charge_id,
                "provider_payment_charge_id": "",
            },
        )
        if date is not None:
            message["date"] = date
        if deliver:
            for _ in range(repeat):
                self.push_update(state, "message", dict(message))
        return charge_id

    async def pay(
        self,
        invoice_url: str,
        user: dict[str, Any],
        *,
        deliver: bool = True,
        repeat: int = 1,
        label: SaleLabel | None = None,
    ) -> PaymentOutcome:
        outcome = await self.checkout(invoice_url, user)
        if outcome.status == "paid":
            outcome.charge_id = self.charge(
                invoice_url, user, deliver=deliver, repeat=repeat, label=label
            )
        return outcome

    async def pay_twice(self, invoice_url: str, user: dict[str, Any]) -> list[PaymentOutcome]:
        """Two devices press Pay on one link at once: both checkouts, then both charges."""
        outcomes = await asyncio.gather(
            self.checkout(invoice_url, user), self.checkout(invoice_url, user)
        )
        for outcome in outcomes:
            if outcome.status == "paid":
                outcome.charge_id = self.charge(invoice_url, user)
        return list(outcomes)

    def sale_partner(
        self, user: dict[str, Any], payload: str, label: SaleLabel | None = None
    ) -> dict[str, Any]:
        """The user partner of a sale (or its refund) as the real server writes it."""
        label = label or self.sale_label
        partner: dict[str, Any] = {"type": "user", "transaction_type": label, "user": user}
        if label == "paid_media_payment":
            partner["paid_media"] = []
        if payload:  # the real server leaves an empty payload out
            key = "invoice_payload" if label == "invoice_payment" else "paid_media_payload"
            partner[key] = payload
        return partner

    def add_transaction(self, token: str, transaction: dict[str, Any]) -> dict[str, Any]:
        """Put any item into the bot's Stars ledger, in date order (default: now; a new
        charge id unless given): affiliate payments, withdrawals, gifts, partner types
        no library knows yet, old payments. An incoming sale from a user (either label)
        can then be refunded like one made through an invoice."""
        state = self.bot(token)
        item = {"id": new_charge_id(), "date": int(self.now()), **transaction}
        source = item.get("source") or {}
        label = source.get("transaction_type")
        if source.get("type") == "user" and label in ("invoice_payment", "paid_media_payment"):
            state.payments[item["id"]] = {
                "user": source["user"],
                "amount": item["amount"],
                "payload": source.get("invoice_payload") or source.get("paid_media_payload", ""),
            }
        index = len(state.transactions)
        while index and state.transactions[index - 1].get("date", 0) > item["date"]:
            index -= 1
        state.transactions.insert(index, item)
        return item

    def refund_elsewhere(
        self, token: str, charge_id: str, *, label: SaleLabel | None = None
    ) -> None:
        """A refund made outside the bot (another tool, Telegram support); `label`
        overrides `sale_label` for its row."""
        state = self.bot(token)
        self._refund(state, state.payments[charge_id]["user"]["id"], charge_id, label)

    def _refund(
        self, state: BotState, user_id: int, charge_id: str, label: SaleLabel | None = None
    ) -> None:
        if not charge_id:
            raise bad_request("CHARGE_ID_EMPTY")
        payment = state.payments.get(charge_id)
        if payment is None or payment["user"]["id"] != user_id:
            raise bad_request("CHARGE_NOT_FOUND")
        if charge_id in state.refunded:
            raise bad_request("CHARGE_ALREADY_REFUNDED")
        state.refunded.add(charge_id)
        self.add_transaction(
            state.token,
            {
                "id": charge_id,
                "amount": payment["amount"],
                "receiver": self.sale_partner(payment["user"], payment["payload"], label),
            },
        )
        self.push_update(
            state,
            "message",
            self._message(
                payment["user"],
                refunded_payment={
                    "currency": "XTR",
                    "total_amount": payment["amount"],
                    "invoice_payload": payment["payload"],
                    "telegram_payment_charge_id": charge_id,
                },
            ),
        )

    # ------------------------------------------------------------ the wire

    async def _params(self, request: web.Request) -> dict[str, Any]:
        params: dict[str, Any] = dict(request.query)
        if request.can_read_body:
            if request.content_type == "application/json":
                params.update(await request.json())
            else:
                form = await request.post()
                params.update({k: v for k, v in form.items() if isinstance(v, str)})
        for key, value in list(params.items()):
            if not isinstance(value, str):
                continue
            if key in JSON_FIELDS:
                try:
                    params[key] = json.loads(value)
                except ValueError:
                    name = JSON_NAMES.get(key, key)
                    raise bad_request(f"can't parse {name} JSON object") from None
            elif key in INT_FIELDS:
                params[key] = to_integer(value)
            elif key in BOOL_FIELDS:
                params[key] = value.lower() in {"true", "1"}
        return params

    async def _handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"].lower()
        back = 0.0  # the answer's way back to the caller
        try:
            state = self._known_bot(request.match_info["token"])
            params = await self._params(request)
            state.calls.append((method, params))
            _request.set(request)
            if self.latency > 0 and method != "getupdates":
                back = self._one_way()
                await asyncio.sleep(self._one_way())
            after = await self._apply_fault(method)
            handler = getattr(self, f"_m_{method}", None)
            if handler is None:
                raise ApiError(404, "Not Found: method not found")
            result = await handler(state, params)
            if after is not None:
                await self._fault_after(after)
        except ApiError as error:
            answer = web.json_response(error.body(), status=error.code)
        else:
            answer = web.json_response({"ok": True, "result": result})
        if back:
            await asyncio.sleep(back)
        return answer

    async def _apply_fault(self, method: str) -> Fault | None:
        """Misbehave before the method runs; a fault for after it is returned."""
        fault = self.faults.get(method) or self.faults.get("*")
        if fault is None:
            return None
        if fault.times is not None:
            fault.times -= 1
            if fault.times <= 0:
                self.faults = {k: v for k, v in self.faults.items() if v is not fault}
        if fault.kind in ("lost", "error_after"):
            return fault
        if fault.kind == "slow":
            await asyncio.sleep(fault.delay)
        elif fault.kind == "hang":
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._healed.wait(), 3600)
        elif fault.kind == "retry_after":
            raise ApiError(
                429,
                f"Too Many Requests: retry after {fault.retry_after}",
                retry_after=fault.retry_after,
            )
        elif fault.kind == "error":
            raise ApiError(fault.status, fault.description or "Internal Server Error")
        elif fault.kind == "refuse":
            raise bad_request(fault.description or "STARS_INVOICE_INVALID")
        return None

    async def _fault_after(self, fault: Fault) -> None:
        """The method did its work; its answer is lost (held until healed) or a 5xx."""
        if fault.kind == "lost":
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._healed.wait(), 3600)
            raise ApiError(502, "Bad Gateway")
        raise ApiError(fault.status, fault.description or "Internal Server Error")

    # ------------------------------------------------------------ methods

    async def _m_getme(self, state: BotState, params: dict[str, Any]) -> dict[str, Any]:
        return {
            **state.user,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }

    async def _m_getupdates(self, state: BotState, params: dict[str, Any]) -> list[Any]:
        if state.webhook_url:
            raise ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        offset = params.get("offset", 0)
        limit = min(max(params.get("limit", 100), 1), 100)
        timeout = min(max(params.get("timeout", 0), 0), 50)
        if "allowed_updates" in params and params["allowed_updates"] is not None:
            state.allowed_updates = list(params["allowed_updates"])
        if offset > 0:
            state.updates = [u for u in state.updates if u["update_id"] >= offset]
        elif offset < 0:
            state.updates = state.updates[offset:]
        self._drop_expired(state)
        if state.active_poll is not None and not state.active_poll.done():
            state.active_poll.set_result("conflict")
        mine: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        state.active_poll = mine
        request = _request.get()
        poll = Poll(request.match_info.get("door", ""), time.time())
        state.polls.append(poll)
        deadline = time.monotonic() + timeout
        try:
            while True:
                if mine.done():
                    poll.outcome = "conflict"
                    reason = mine.result()
                    if reason == "webhook":
                        raise ApiError(409, "Conflict: terminated by setWebhook request")
                    raise ApiError(
                        409,
                        "Conflict: terminated by other getUpdates request; "
                        "make sure that only one bot instance is running",
                    )
                if request.transport is None or request.transport.is_closing():
                    # The caller hung up: nothing is handed out (nor confirmed).
                    poll.outcome = "abandoned"
                    return []
                self._drop_expired(state)
                if state.updates or time.monotonic() >= deadline:
                    batch = state.updates[:limit]
                    state.delivered.extend(batch)
                    poll.outcome, poll.updates = "answered", len(batch)
                    return batch
                changed = asyncio.ensure_future(state.changed.wait())
                # Woken now and then to notice a caller that hung up.
                either: list[asyncio.Future[Any]] = [changed, mine]
                await asyncio.wait(
                    either,
                    timeout=min(deadline - time.monotonic(), 0.1),
                    return_when=asyncio.FIRST_COMPLETED,
                )
                changed.cancel()
        finally:
            poll.ended = time.time()
            if state.active_poll is mine:
                state.active_poll = None

    async def _m_deletewebhook(self, state: BotState, params: dict[str, Any]) -> bool:
        state.webhook_url = ""
        if params.get("drop_pending_updates"):
            state.updates.clear()
        return True

    async def _m_setwebhook(self, state: BotState, params: dict[str, Any]) -> bool:
        state.webhook_url = str(params.get("url", ""))
        if state.webhook_url and state.active_poll and not state.active_poll.done():
            state.active_poll.set_result("webhook")
        return True

    async def _m_getwebhookinfo(self, state: BotState, params: dict[str, Any]) -> dict[str, Any]:
        info: dict[str, Any] = {
            "url": state.webhook_url,
            "has_custom_certificate": False,
            "pending_update_count": len(state.updates),
        }
        if state.allowed_updates is not None:
            info["allowed_updates"] = state.allowed_updates
        return info

    async def _m_setmycommands(self, state: BotState, params: dict[str, Any]) -> bool:
        state.commands[params.get("language_code", "")] = params.get("commands", [])
        return True

    async def _m_deletemycommands(self, state: BotState, params: dict[str, Any]) -> bool:
        state.commands.pop(params.get("language_code", ""), None)
        return True

    def _chat_fault(self, state: BotState, chat_id: int) -> None:
        fault = state.chat_faults.get(chat_id)
        if fault is None:
            return
        if fault.kind == "blocked":
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        if fault.kind == "not_found":
            raise bad_request("chat not found")
        now = time.monotonic()
        if fault.until is None:
            fault.until = now + fault.retry_after
        if now >= fault.until:  # the wait is over: this flood has passed
            del state.chat_faults[chat_id]
            return
        wait = max(1, math.ceil(fault.until - now))
        raise ApiError(429, f"Too Many Requests: retry after {wait}", retry_after=wait)

    async def _m_sendmessage(self, state: BotState, params: dict[str, Any]) -> dict[str, Any]:
        raw_chat = str(params.get("chat_id", ""))
        if not raw_chat:
            raise bad_request("chat_id is empty")
        if not re.fullmatch(r"-?\d{1,19}", raw_chat):  # a @username the bot cannot see
            raise bad_request("chat not found")
        chat_id = int(raw_chat)
        text = params.get("text", "")
        if not text:
            raise bad_request("message text is empty")
        if len(text) > 4096:
            raise bad_request("message is too long")
        self._chat_fault(state, chat_id)
        buttons = params.get("reply_markup", {}).get("inline_keyboard", [])
        if chat_id < 0 and any("web_app" in b for row in buttons for b in row):
            raise bad_request("BUTTON_TYPE_INVALID")  # web_app buttons: private chats only
        message = {
            "message_id": next(self._ids),
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private" if chat_id > 0 else "supergroup"},
            "from": state.user,
            "text": text,
        }
        stored = dict(message)
        if "reply_markup" in params:
            stored["reply_markup"] = params["reply_markup"]
        state.messages.append(stored)
        return message

    async def _m_createinvoicelink(self, state: BotState, params: dict[str, Any]) -> str:
        for name in ("title", "description", "payload", "currency", "prices"):
            if not params.get(name):
                raise required(name)
        if not 1 <= len(params["title"]) <= 32:
            raise bad_request("invoice title length must be 1-32 characters")
        if not 1 <= len(params["description"]) <= 255:
            raise bad_request("invoice description length must be 1-255 characters")
        if not 1 <= len(params["payload"].encode()) <= 128:
            raise bad_request("INVOICE_PAYLOAD_INVALID")
        if params["currency"] != "XTR":
            raise bad_request("PAYMENT_PROVIDER_INVALID")
        prices = params["prices"]
        if (
            params.get("provider_token")
            or params.get("max_tip_amount")
            or (params.get("suggested_tip_amounts"))
        ):
            raise bad_request("STARS_INVOICE_INVALID")
        if not isinstance(prices, list) or len(prices) != 1:
            raise bad_request("STARS_INVOICE_INVALID")
        amount = prices[0].get("amount")
        if not isinstance(amount, int) or not 1 <= amount <= 100_000:
            raise bad_request("CURRENCY_TOTAL_AMOUNT_INVALID")
        return self.add_invoice(
            state.token,
            params["payload"],
            amount,
            title=params["title"],
            description=params["description"],
            label=prices[0].get("label", ""),
            photo_url=params.get("photo_url"),
        )

    def add_invoice(
        self,
        token: str,
        payload: str,
        amount: int,
        *,
        title: str = "Stars",
        description: str = "Stars",
        label: str = "",
        photo_url: str | None = None,
    ) -> str:
        """Register an invoice link as createInvoiceLink would; returns the link."""
        slug = secrets.token_urlsafe(12)
        self.invoices[slug] = {
            "token": token,
            "title": title,
            "description": description,
            "payload": payload,
            "currency": "XTR",
            "amount": amount,
            "label": label,
            "photo_url": photo_url,
        }
        return f"https://t.me/${slug}"

    async def _m_answerprecheckoutquery(self, state: BotState, params: dict[str, Any]) -> bool:
        # Read as a 64-bit integer: an id of another shape is 0, which no query has.
        query_id = to_integer(params.get("pre_checkout_query_id", ""))
        query = state.queries.get(str(query_id))
        ok = bool(params.get("ok"))
        if not ok and not params.get("error_message"):
            raise required("error_message")
        if (
            query is None
            or query.future.done()
            or time.monotonic() - query.created > PRECHECKOUT_DEADLINE
        ):
            raise bad_request(
                "query is too old and response timeout expired or query ID is invalid"
            )
        query.answered_after = time.monotonic() - query.created
        query.future.set_result((ok, params.get("error_message")))
        return True

    async def _m_refundstarpayment(self, state: BotState, params: dict[str, Any]) -> bool:
        user_id = to_integer(params.get("user_id", ""))
        if user_id <= 0:
            raise bad_request("invalid user_id specified")
        charge_id = str(params.get("telegram_payment_charge_id", ""))
        if not charge_id:
            raise required("telegram_payment_charge_id")
        self._refund(state, user_id, charge_id)
        return True

    async def _m_getstartransactions(
        self, state: BotState, params: dict[str, Any]
    ) -> dict[str, Any]:
        offset = max(params.get("offset", 0), 0)
        limit = min(max(params.get("limit", 100), 1), 100)
        ordered = (
            state.transactions
            if self.transactions_order == "asc"
            else list(reversed(state.transactions))
        )
        return {"transactions": ordered[offset : offset + limit]}

    async def _m_getmystarbalance(self, state: BotState, params: dict[str, Any]) -> dict[str, int]:
        if state.star_balance is not None:
            return {**state.star_balance, "amount": state.star_balance["amount"] - state.spent}
        return {"amount": self._stars_earned(state) - state.spent}

    def _stars_earned(self, state: BotState) -> int:
        return sum(p["amount"] for c, p in state.payments.items() if c not in state.refunded)

    def own_stars(self, token: str) -> int:
        """The bot's whole Stars now, as getMyStarBalance says."""
        state = self.bot(token)
        base = state.star_balance["amount"] if state.star_balance else self._stars_earned(state)
        return base - state.spent

    # ------------------------------------------------------------ gifts and Premium

    async def _m_getavailablegifts(
        self, state: BotState, params: dict[str, Any]
    ) -> dict[str, Any]:
        return {"gifts": [dict(gift) for gift in self.gift_catalog]}

    def set_purchase_row_delay(self, token: str, seconds: float) -> None:
        """Purchases from now on show in getStarTransactions `seconds` after they are made."""
        self.bot(token).purchase_row_delay = seconds

    def _pay_from_balance(self, state: BotState, price: int) -> None:
        if self.own_stars(state.token) < price:
            raise bad_request("BALANCE_TOO_LOW")
        state.spent += price

    def _record_purchase(self, state: BotState, row: dict[str, Any]) -> None:
        item = {"id": new_charge_id(), "date": int(self.now()), **row}
        state.purchases.append(item)
        if state.purchase_row_delay <= 0:
            self.add_transaction(state.token, item)
            return
        loop = asyncio.get_running_loop()
        state.late_rows.append(item)

        def show() -> None:
            if item in state.late_rows:
                state.late_rows.remove(item)
                self.add_transaction(state.token, item)

        self._later.add(loop.call_later(state.purchase_row_delay, show))

    def show_late_rows(self, token: str) -> int:
        """Rows still held back by `set_purchase_row_delay` appear now; returns how many."""
        state = self.bot(token)
        late, state.late_rows = state.late_rows, []
        for item in late:
            self.add_transaction(token, item)
        return len(late)

    @staticmethod
    def _text(params: dict[str, Any]) -> None:
        if len(str(params.get("text", ""))) > 128:
            raise bad_request("text is too long")  # UNCONFIRMED wording

    @staticmethod
    def _user(user_id: int) -> dict[str, Any]:
        return {"id": user_id, "is_bot": False, "first_name": "User"}

    async def _m_sendgift(self, state: BotState, params: dict[str, Any]) -> bool:
        gift_id = str(params.get("gift_id", ""))
        if not gift_id:
            raise required("gift_id")
        raw_user, raw_chat = params.get("user_id"), params.get("chat_id")
        if raw_user is None and raw_chat is None:
            raise bad_request("invalid user_id specified")
        gift = next((g for g in self.gift_catalog if g["id"] == gift_id), None)
        if gift is None:
            raise bad_request("STARGIFT_INVALID")
        self._text(params)
        limited = "total_count" in gift or "personal_total_count" in gift
        if raw_user is None and limited:
            raise bad_request("STARGIFT_USAGE_LIMITED")  # no limited gifts to channels
        if gift.get("remaining_count") == 0 or gift.get("personal_remaining_count") == 0:
            raise bad_request("STARGIFT_USAGE_LIMITED")
        price = gift["star_count"]
        if params.get("pay_for_upgrade"):
            price += gift.get("upgrade_star_count", 0)
        if raw_user is not None:
            user_id = to_integer(raw_user)
            if user_id <= 0:
                raise bad_request("invalid user_id specified")
            if user_id in self.bots_by_id():
                raise bad_request("USER_IS_BOT")  # UNCONFIRMED wording
            receiver: dict[str, Any] = {
                "type": "user",
                "transaction_type": "gift_purchase",
                "user": self._user(user_id),
                "gift": dict(gift),
            }
        else:
            chat_id = to_integer(raw_chat)
            if chat_id >= 0:
                raise bad_request("chat not found")
            receiver = {
                "type": "chat",
                "chat": {"id": chat_id, "type": "channel", "title": "Channel"},
                "gift": dict(gift),
            }
        self._pay_from_balance(state, price)
        for limit in ("remaining_count", "personal_remaining_count"):
            if limit in gift:
                gift[limit] -= 1
        self._record_purchase(state, {"amount": price, "receiver": receiver})
        return True

    async def _m_giftpremiumsubscription(self, state: BotState, params: dict[str, Any]) -> bool:
        user_id = to_integer(params.get("user_id", ""))
        if user_id <= 0:
            raise bad_request("invalid user_id specified")
        months, stars = params.get("month_count"), params.get("star_count")
        if months not in PREMIUM_PRICES:
            raise bad_request("invalid month count specified")  # UNCONFIRMED wording
        if stars != PREMIUM_PRICES[months]:
            raise bad_request("invalid star count specified")  # UNCONFIRMED wording
        self._text(params)
        self._pay_from_balance(state, stars)
        receiver = {
            "type": "user",
            "transaction_type": "premium_purchase",
            "user": self._user(user_id),
            "premium_subscription_duration": months,
        }
        self._record_purchase(state, {"amount": stars, "receiver": receiver})
        return True

    def bots_by_id(self) -> set[int]:
        return {state.bot_id for state in self.bots.values()}

    def set_star_balance(self, token: str, amount: int, nanostar_amount: int = 0) -> None:
        """What getMyStarBalance says from now on (Stars spent or withdrawn elsewhere)."""
        balance = {"amount": amount}
        if nanostar_amount:
            balance["nanostar_amount"] = nanostar_amount
        self.bot(token).star_balance = balance

    async def _m_close(self, state: BotState, params: dict[str, Any]) -> bool:
        return True

    async def _m_logout(self, state: BotState, params: dict[str, Any]) -> bool:
        return True


@contextlib.asynccontextmanager
async def running_emulator(**options: Any):  # type: ignore[no-untyped-def]
    emulator = BotApiEmulator(**options)
    await emulator.start()
    try:
        yield emulator
    finally:
        await emulator.stop()
