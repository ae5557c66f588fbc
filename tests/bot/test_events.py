"""The events sender against a real HTTP backend that checks signatures: every balance
change arrives, at least once, signed, in order per user, through failures and outages."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from bot.events import EventSender, retry_delay, sign
from models.events.delivery import public_id
from models.events.operator import redeliver
from models.events.outbox import events_on_since, switch_events
from models.infra import metrics
from models.kinds import EntryKind, EventState
from models.ledger.debits import debit
from models.ledger.entries import apply_entry
from models.queries.invariants import check_ledger
from models.tables import Event, LedgerEntry
from models.values import utcnow
from tests.emulator import BotApiEmulator
from tests.event_receiver import Receiver
from tests.helpers import ADMIN, ALICE, metric, tma
from tests.system import start_system

SECRET = "whsec_" + "s3cr3t" * 6


class Clock:
    """The sender's and the backend's time: real time, sped up and shifted on demand,
    so retries minutes apart and a three-day deadline pass in seconds."""

    def __init__(self, speed: float = 1.0) -> None:
        self.start = utcnow()
        self.started = time.monotonic()
        self.speed = speed
        self.offset = timedelta()

    def __call__(self) -> datetime:
        elapsed = (time.monotonic() - self.started) * self.speed
        return self.start + timedelta(seconds=elapsed) + self.offset


async def start_receiver(receiver: Receiver, aiohttp_server: Any) -> str:
    server: TestServer = await aiohttp_server(receiver.app())
    return str(server.make_url("/events"))


@pytest.fixture
async def running() -> AsyncIterator[Callable[[EventSender], None]]:
    """Runs senders as the worker does, and stops them (as on SIGTERM) after the test."""
    tasks: list[asyncio.Task[None]] = []

    def run(sender: EventSender) -> None:
        tasks.append(asyncio.create_task(sender.run()))

    yield run
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    assert all(task.cancelled() for task in tasks)  # stopped, not crashed


def sender_for(url: str, clock: Callable[[], datetime] = utcnow, **options: Any) -> EventSender:
    options = {"per_second": 1000.0, "poll_interval": 0.05, **options}
    return EventSender(
        url, SECRET.encode(), clock=clock, jitter=random.Random(1).random, **options
    )


async def ledger_order() -> dict[int, list[str]]:
    """Each user's event ids in the order their ledger rows were written."""
    order: dict[int, list[str]] = {}
    for event in await Event.all().order_by("entry_id"):
        order.setdefault(event.user_id, []).append(public_id(event.id))
    return order


async def all_delivered() -> bool:
    return await Event.filter(state=EventState.PENDING).count() == 0


async def settle(receiver: Receiver, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not await all_delivered():
        assert time.monotonic() < deadline, (
            f"still pending; backend saw {receiver.statuses()[-20:]}"
        )
        await asyncio.sleep(0.05)


def counter(name: str) -> float:
    return metric(metrics.render()[0].decode(), name)


async def test_an_event_is_a_signed_post_with_the_documented_shape(
    db: str, aiohttp_server: Any, running: Callable[[EventSender], None]
) -> None:
    receiver = Receiver(SECRET)
    url = await start_receiver(receiver, aiohttp_server)
    await switch_events(True)
    await apply_entry(7, 25, EntryKind.DEV_CREDIT, note="welcome")
    running(sender_for(url))
    await receiver.wait_until(lambda: bool(receiver.accepted()))
    [request] = receiver.requests
    event = await Event.get(user_id=7)
    assert request.event_id == public_id(event.id)
    assert request.headers["Stars-Event-Id"] == request.event_id
    assert request.headers["Content-Type"] == "application/json"
    timestamp = int(request.headers["Stars-Signature"].split(",")[0].removeprefix("t="))
    assert abs(timestamp - time.time()) < 5
    assert request.body["type"] == "balance.adjusted"
    assert request.body["data"] | {"telegram_id": 0} == {
        "telegram_id": 0,
        "amount": 25,
        "stars_balance": 25,
        "order_id": None,
        "charge_id": None,
        "debit_id": None,
        "idempotency_key": None,
        "reason": "welcome",
        "anomaly": None,
        "source": "development",
        "by": None,
    }
    await settle(receiver)
    row = await Event.get(id=event.id)
    assert (row.state, row.attempts, row.finished_at is not None) == (
        EventState.DELIVERED,
        1,
        True,
    )


def test_the_signature_is_hmac_sha256_of_the_timestamp_and_the_raw_body() -> None:
    body = b'{"id":"evt_1","type":"debit.created"}'
    assert sign(SECRET.encode(), 1764000000, body) == (
        "t=1764000000,v1=52ccf94b23cb159dfa07aa947bc80223a4b560fc3e50654f6817cfe4c2e1ff88"
    )


def test_retries_grow_with_jitter_up_to_a_few_minutes() -> None:
    assert [retry_delay(n, 0.0) for n in (1, 2, 3, 4)] == [1.0, 2.0, 4.0, 8.0]
    assert [retry_delay(n, 0.999999) for n in (1, 2)] == pytest.approx([2.0, 4.0])
    assert retry_delay(50, 0.999999) == pytest.approx(300.0)
    assert retry_delay(10_000, 0.0) == 150.0


async def test_a_forged_or_failed_answer_is_retried_and_the_secret_stays_secret(
    db: str, aiohttp_server: Any, running: Callable[[EventSender], None], capsys: Any
) -> None:
    from models.infra.logs import configure_logging

    configure_logging("INFO", "json", secrets=(SECRET,))
    try:
        receiver = Receiver("another-secret-of-the-right-length-xx")  # signatures fail
        url = await start_receiver(receiver, aiohttp_server)
        await switch_events(True)
        await apply_entry(7, 5, EntryKind.DEV_CREDIT)
        running(sender_for(url))
        await receiver.wait_until(lambda: receiver.forged >= 1, what="a forged request")
        deadline = time.monotonic() + 10
        while (row := await Event.get(user_id=7)).attempts < 1:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        assert (row.state, row.last_error) == (EventState.PENDING, "HTTP 400")
        assert row.next_attempt_at is not None
        assert row.next_attempt_at > utcnow()  # waits a growing while before the next try
        receiver.secret = SECRET.encode()  # the backend got the right secret
        row.next_attempt_at = utcnow()
        await row.save(update_fields=["next_attempt_at"])
        await settle(receiver)
    finally:
        log = capsys.readouterr().err
        import logging

        import structlog

        structlog.reset_defaults()
        logging.getLogger().handlers.clear()
    assert "event.retrying" in log
    assert "event.delivered" in log
    assert SECRET not in log
    assert SECRET[6:] not in log


async def test_a_flaky_backend_down_for_a_minute_still_gets_everything_in_order(
    db: str, aiohttp_server: Any, running: Callable[[EventSender], None]
) -> None:
    clock = Clock(speed=60.0)  # a minute is a second; the five-minute cap, five seconds
    receiver = Receiver(SECRET, clock=clock)
    receiver.fail_ratio = 0.3
    start = clock()
    receiver.down = (start + timedelta(seconds=20), start + timedelta(seconds=80))
    url = await start_receiver(receiver, aiohttp_server)
    retried, delivered = (
        counter("stars_events_retried_total"),
        counter("stars_events_delivered_total"),
    )
    await switch_events(True)
    running(sender_for(url, clock))

    users = [101, 102, 103, 104, 105]

    async def spend(user: int) -> None:
        await apply_entry(user, 1000, EntryKind.DEV_CREDIT)
        for i in range(30):
            if i % 3:
                await debit(user, 1 + i, "a purchase", f"{user}-{i}")
            else:
                await apply_entry(user, i, EntryKind.ADJUSTMENT)
            await asyncio.sleep(random.random() / 20)

    await asyncio.gather(*(spend(user) for user in users))
    await settle(receiver, timeout=60)

    order = await ledger_order()
    assert sum(len(ids) for ids in order.values()) == await LedgerEntry.all().count() == 155
    for user in users:
        assert receiver.first_accepted(user) == order[user]
    assert receiver.requested_out_of_order(order) == []
    statuses = receiver.statuses()
    assert statuses.count(503) >= 1  # it was down, and recovered
    assert statuses.count(500) >= 10  # and failed about one request in three besides
    assert counter("stars_events_retried_total") - retried == statuses.count(500) + statuses.count(
        503
    )
    assert counter("stars_events_delivered_total") - delivered == 155
    assert receiver.forged == 0


async def test_one_users_backlog_does_not_hold_up_another(
    db: str, aiohttp_server: Any, running: Callable[[EventSender], None]
) -> None:
    receiver = Receiver(SECRET)
    receiver.slow_users[201] = 3.0  # the backend is slow for this user: 30 s of backlog
    url = await start_receiver(receiver, aiohttp_server)
    await switch_events(True)
    for i in range(10):
        await apply_entry(201, 1 + i, EntryKind.DEV_CREDIT)
    running(sender_for(url, poll_interval=0.5))  # the production pace of reading the table
    await receiver.wait_until(lambda: len(receiver.arrived) >= 1, what="the backlog starting")

    written = time.monotonic()
    await apply_entry(202, 9, EntryKind.DEV_CREDIT)
    await receiver.wait_until(
        lambda: any(r.body["data"]["telegram_id"] == 202 for r in receiver.accepted()),
        what="the other user's event",
    )
    took = time.monotonic() - written
    assert took < 1.5, took  # within a second or so of being written
    assert receiver.arrived[0] == (await ledger_order())[201][0]
    assert await Event.filter(user_id=201, state=EventState.PENDING).count() == 10


async def test_no_answer_within_the_timeout_is_a_failure(
    db: str, aiohttp_server: Any, running: Callable[[EventSender], None]
) -> None:
    receiver = Receiver(SECRET)
    receiver.slow_users[7] = 2.0
    url = await start_receiver(receiver, aiohttp_server)
    await switch_events(True)
    await apply_entry(7, 5, EntryKind.DEV_CREDIT)
    running(sender_for(url, timeout=0.3))
    deadline = time.monotonic() + 10
    while (row := await Event.get(user_id=7)).attempts < 1:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    assert (row.state, row.last_error) == (EventState.PENDING, "timeout")
    del receiver.slow_users[7]
    row.next_attempt_at = utcnow()
    await row.save(update_fields=["next_attempt_at"])
    await settle(receiver)


async def test_any_error_of_a_request_is_a_failed_attempt_that_never_shows_the_url(
    db: str, aiohttp_server: Any, running: Callable[[EventSender], None], capsys: Any
) -> None:
    """Settings refuse such a URL at start-up; the sender still must not loop on it.
    aiohttp raises UnicodeEncodeError (quoting the password) for credentials it cannot
    send as Latin-1: before, that escaped the sender, no attempt was recorded and the
    event was claimed again every 15 s, forever, holding up the user's later events."""
    from models.infra.logs import configure_logging

    receiver = Receiver(SECRET)
    url = (await start_receiver(receiver, aiohttp_server)).replace("://", "://hooks:пароль@")
    configure_logging("INFO", "json", secrets=(SECRET,))
    try:
        await switch_events(True)
        await apply_entry(7, 5, EntryKind.DEV_CREDIT)
        retried = counter("stars_events_retried_total")
        running(sender_for(url))
        deadline = time.monotonic() + 10
        while (row := await Event.get(user_id=7)).attempts < 1:
            assert time.monotonic() < deadline, "no attempt recorded"
            await asyncio.sleep(0.05)
        assert (row.state, row.last_error) == (EventState.PENDING, "UnicodeEncodeError")
        assert row.next_attempt_at is not None
        assert row.next_attempt_at > utcnow()  # retried later, as any failure
        assert counter("stars_events_retried_total") == retried + 1
    finally:
        log = capsys.readouterr().err
        import logging

        import structlog

        structlog.reset_defaults()
        logging.getLogger().handlers.clear()
    assert "event.retrying" in log
    assert "event.not_recorded" not in log
    assert "пароль" not in log
    assert "\\u043f" not in log  # nor in JSON's escapes


async def test_after_three_days_an_event_is_abandoned_and_the_next_one_goes(
    db: str, aiohttp_server: Any, running: Callable[[EventSender], None]
) -> None:
    clock = Clock()
    receiver = Receiver(SECRET, clock=clock)
    url = await start_receiver(receiver, aiohttp_server)
    await switch_events(True)
    await apply_entry(7, 5, EntryKind.DEV_CREDIT)
    await apply_entry(7, 6, EntryKind.DEV_CREDIT)
    first, second = [public_id(e.id) for e in await Event.filter(user_id=7).order_by("entry_id")]
    receiver.failing.add(first)
    abandoned = counter("stars_events_abandoned_total")
    running(sender_for(url, clock))
    await receiver.wait_until(lambda: len(receiver.requests) >= 2, what="two failed tries")
    assert receiver.accepted() == []  # the second waits behind the first
    clock.offset = timedelta(days=3)  # three days of retries later
    await receiver.wait_until(lambda: second in receiver.accepted_ids(), what="the second")

    row = await Event.filter(user_id=7).order_by("entry_id").first()
    assert row is not None
    assert (row.state, row.last_error) == (EventState.ABANDONED, "HTTP 500")
    assert counter("stars_events_abandoned_total") - abandoned == 1
    gauge = metric(metrics.render()[0].decode(), "stars_events_oldest_undelivered_seconds")
    assert gauge >= 0

    receiver.failing.clear()  # the backend is fixed; the operator sends it again
    assert await redeliver(row.id, clock())
    await settle(receiver)
    assert receiver.first_accepted(7) == [second, first]


async def test_the_age_of_the_oldest_undelivered_event_is_measured(
    db: str, aiohttp_server: Any, running: Callable[[EventSender], None]
) -> None:
    clock = Clock()
    clock.offset = timedelta(hours=1)
    receiver = Receiver(SECRET, clock=clock)
    receiver.failing_users.add(7)
    url = await start_receiver(receiver, aiohttp_server)
    await switch_events(True)
    await apply_entry(7, 5, EntryKind.DEV_CREDIT)
    running(sender_for(url, clock))
    await receiver.wait_until(lambda: len(receiver.requests) >= 1)
    deadline = time.monotonic() + 10
    while metric(metrics.render()[0].decode(), "stars_events_oldest_undelivered_seconds") < 3600:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)


SERVICE_KEY = "svc_" + "k" * 40


async def test_every_balance_change_in_the_running_system_reaches_the_backend_once(
    db: str, emulator: BotApiEmulator, aiohttp_client: Any, aiohttp_server: Any
) -> None:
    """The real worker polling the emulator, the real API, and the app's backend: each
    ledger row arrives as one event id, however often Telegram or the app repeats itself."""
    receiver = Receiver(SECRET)
    url = await start_receiver(receiver, aiohttp_server)
    system, stop, task = await start_system(
        aiohttp_client,
        emulator,
        events_url=url,
        events_secret=SECRET,
        environment="development",
        service_api_keys=[SERVICE_KEY],
    )
    try:
        while await events_on_since() is None:  # the worker's sender is up
            await asyncio.sleep(0.02)
        # A payment whose update Telegram delivers three times.
        order = await system.order(ALICE, 100)
        paid = await emulator.pay(order["invoice_url"], ALICE, repeat=3)
        assert paid.charge_id is not None
        await system.settle()
        # A payment whose update was lost, recovered by reconciliation.
        lost = emulator.charge(
            (await system.order(ALICE, 250))["invoice_url"], ALICE, deliver=False
        )
        await system.worker.reconciler.run_pass()
        # The admin refunds the first; Telegram's refunded_payment message reports it too.
        system.say(ADMIN, f"/refund {paid.charge_id}")
        await system.replies(ADMIN)
        await system.settle()
        # The app's backend spends and gives back, each request sent twice.
        auth = {"Authorization": f"Bearer {SERVICE_KEY}", "Idempotency-Key": "gift-1"}
        for _ in range(2):
            spent = await system.api.post(
                f"/service/users/{ALICE['id']}/debits",
                json={"amount": 50, "reason": "a gift"},
                headers=auth,
            )
            assert spent.status in (200, 201)
        debit_id = (await spent.json())["debit_id"]
        for _ in range(2):
            back = await system.api.post(f"/service/debits/{debit_id}/reversal", headers=auth)
            assert back.status in (200, 201)
        # A development credit, and an adjustment by hand.
        dev = await system.api.post("/dev/add-stars", json={"amount": 30}, headers=tma(ALICE))
        assert dev.status == 200, await dev.text()
        await apply_entry(ALICE["id"], -5, EntryKind.ADJUSTMENT, note="support case 7")

        await settle(receiver)
        entries = [e.id for e in await LedgerEntry.all().order_by("id")]
        events = await Event.all().order_by("entry_id")
        assert [e.entry_id for e in events] == entries
        assert receiver.accepted_ids() == {public_id(e.id) for e in events}
        bodies = {r.event_id: r.body for r in receiver.accepted()}
        got = [bodies[public_id(e.id)] for e in events]
        assert [(b["type"], b["data"]["amount"], b["data"]["stars_balance"]) for b in got] == [
            ("topup.credited", 100, 100),
            ("topup.credited", 250, 350),
            ("topup.refunded", -100, 250),
            ("debit.created", -50, 200),
            ("debit.reversed", 50, 250),
            ("balance.adjusted", 30, 280),
            ("balance.adjusted", -5, 275),
        ]
        sources = [b["data"]["source"] for b in got]
        assert sources[:2] == ["update", "reconciliation"]
        assert sources[2] in {"command", "update"}  # whichever report came first
        assert sources[3:] == ["service", "service", "development", "operator"]
        credited = [
            b
            for b in receiver.accepted()
            if b.body["type"] == "topup.credited" and b.body["data"]["charge_id"] == paid.charge_id
        ]
        assert len({b.event_id for b in credited}) == 1  # three updates, one event
        assert got[0]["data"]["order_id"] == order["payment_id"]
        assert got[1]["data"]["charge_id"] == lost
        assert got[3]["data"]["idempotency_key"] == got[4]["data"]["idempotency_key"] == "gift-1"
        assert got[3]["data"]["reason"] == "a gift"
        assert receiver.first_accepted(ALICE["id"]) == [public_id(e.id) for e in events]
    finally:
        stop.set()
        await asyncio.wait_for(task, 40)
    assert (await check_ledger()).ok
