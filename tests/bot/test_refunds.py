"""Refunds: by the admin command and by Telegram's service message, in any order, once."""

from __future__ import annotations

from typing import Any

import pytest

from models.kinds import EntryKind, OrderStatus
from models.ledger.entries import apply_entry
from models.tables import LedgerEntry, TopUpOrder
from tests.databases import through_pgbouncer
from tests.emulator import Fault
from tests.helpers import ADMIN, ALICE, BORIS, TOKEN
from tests.system import System


async def paid(system: System, user: dict[str, Any] = ALICE, amount: int = 100) -> tuple[str, str]:
    order = await system.order(user, amount)
    outcome = await system.emulator.pay(order["invoice_url"], user)
    await system.settle()
    assert outcome.charge_id is not None
    return order["payment_id"], outcome.charge_id


async def refund_entries(charge_id: str) -> int:
    return await LedgerEntry.filter(
        telegram_payment_charge_id=charge_id, kind=EntryKind.REFUND
    ).count()


@through_pgbouncer
async def test_an_admin_refund_debits_once_and_marks_the_order(system: System) -> None:
    order_id, charge_id = await paid(system)
    system.say(ADMIN, f"/refund {charge_id}")
    [reply] = await system.replies(ADMIN)
    await system.settle()  # the refunded_payment message arrives too
    assert reply == (
        f"Refunded 100 ⭐ of charge {charge_id} to user {ALICE['id']}; their balance is now 0 ⭐."
    )
    assert charge_id in system.emulator.bot(TOKEN).refunded
    assert await refund_entries(charge_id) == 1
    assert await system.balance(ALICE) == 0
    order = await TopUpOrder.get(id=order_id)
    assert order.status is OrderStatus.REFUNDED
    assert await system.status(ALICE, order_id) == "refunded"


@through_pgbouncer
async def test_the_service_message_first_then_the_command_debits_once(system: System) -> None:
    _, charge_id = await paid(system)
    system.emulator.refund_elsewhere(TOKEN, charge_id)
    await system.settle()
    assert await system.balance(ALICE) == 0
    system.say(ADMIN, f"/refund {charge_id}")
    [reply] = await system.replies(ADMIN)
    assert reply == f"Charge {charge_id} was already refunded."
    assert await refund_entries(charge_id) == 1


async def test_a_refund_telegram_reports_as_done_counts_as_done(system: System) -> None:
    _, charge_id = await paid(system)
    # Refunded at Telegram, but its service message never reached us.
    state = system.emulator.bot(TOKEN)
    state.allowed_updates = ["pre_checkout_query"]
    system.emulator.refund_elsewhere(TOKEN, charge_id)
    state.allowed_updates = None
    # The bot holds other buyers' Stars (this charge's are gone), enough to cover it.
    system.emulator.set_star_balance(TOKEN, 1000)
    system.say(ADMIN, f"/refund {charge_id}")
    [reply] = await system.replies(ADMIN)
    assert reply.startswith(f"Refunded 100 ⭐ of charge {charge_id}")
    assert await refund_entries(charge_id) == 1
    assert await system.balance(ALICE) == 0


async def test_a_non_admin_cannot_refund(system: System) -> None:
    _, charge_id = await paid(system)
    system.say(BORIS, f"/refund {charge_id}")
    [reply] = await system.replies(BORIS)
    assert reply == "Извините, возвраты могут делать только администраторы бота."
    assert charge_id not in system.emulator.bot(TOKEN).refunded
    assert await system.balance(ALICE) == 100


async def test_a_refund_beyond_the_balance_needs_force(system: System) -> None:
    _, charge_id = await paid(system)
    await apply_entry(ALICE["id"], -60, EntryKind.ADJUSTMENT, note="spent in the app")
    system.say(ADMIN, f"/refund {charge_id}")
    [refused] = await system.replies(ADMIN)
    assert "has 40 ⭐ but the charge was 100 ⭐" in refused
    assert charge_id not in system.emulator.bot(TOKEN).refunded
    system.say(ADMIN, f"/refund {charge_id} force")
    replies = await system.replies(ADMIN, 2)
    await system.settle()
    assert replies[1].endswith("their balance is now -60 ⭐.")
    assert await system.balance(ALICE) == -60


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("/refund", "Usage: /refund <charge_id> [force]"),
        ("/refund a b", "Usage: /refund <charge_id> [force]"),
        ("/refund nope", "No payment with charge id nope is on our ledger."),
    ],
)
async def test_bad_refund_commands_get_a_clear_answer(
    system: System, text: str, expected: str
) -> None:
    system.say(ADMIN, text)
    assert await system.replies(ADMIN) == [expected]


async def test_telegram_refusing_a_refund_changes_nothing(system: System) -> None:
    _, charge_id = await paid(system)
    system.emulator.set_fault("refundStarPayment", Fault("refuse", description="BALANCE_TOO_LOW"))
    system.say(ADMIN, f"/refund {charge_id}")
    [reply] = await system.replies(ADMIN)
    assert "Telegram refused the refund" in reply
    assert "BALANCE_TOO_LOW" in reply
    assert await refund_entries(charge_id) == 0
    assert await system.balance(ALICE) == 100


async def test_an_unanswered_refund_is_reported_as_unknown(system: System) -> None:
    _, charge_id = await paid(system)
    system.emulator.set_fault("refundStarPayment", Fault("error", status=500))
    system.say(ADMIN, f"/refund {charge_id}")
    [reply] = await system.replies(ADMIN)
    assert "did not answer" in reply
    assert await refund_entries(charge_id) == 0


async def test_a_refund_the_bot_cannot_cover_is_refused_and_changes_nothing(
    system: System,
) -> None:
    _, charge_id = await paid(system)
    system.emulator.set_star_balance(TOKEN, 99, nanostar_amount=900_000_000)
    ledger = await LedgerEntry.all().count()
    system.say(ADMIN, f"/refund {charge_id} force")  # force cannot make up the bot's Stars
    [reply] = await system.replies(ADMIN)
    assert reply == (
        f"The bot holds 99 ⭐, fewer than the 100 ⭐ of charge {charge_id}, and refunds are "
        "paid from the bot's own Stars. Nothing was changed; try again once the bot's "
        "balance covers it."
    )
    assert not system.emulator.bot(TOKEN).calls_of("refundStarPayment")
    assert await LedgerEntry.all().count() == ledger
    assert await system.balance(ALICE) == 100
    system.emulator.set_star_balance(TOKEN, 100)
    system.say(ADMIN, f"/refund {charge_id}")
    assert (await system.replies(ADMIN, 2))[1].startswith(f"Refunded 100 ⭐ of charge {charge_id}")


async def test_a_refund_goes_ahead_when_the_bot_balance_cannot_be_read(system: System) -> None:
    """Telegram itself refuses what the bot cannot cover; an unreadable balance is no
    reason to refuse a refund that may well be covered."""
    _, charge_id = await paid(system)
    system.emulator.set_fault("getMyStarBalance", Fault("error", status=500))
    system.say(ADMIN, f"/refund {charge_id}")
    [reply] = await system.replies(ADMIN)
    assert reply.startswith(f"Refunded 100 ⭐ of charge {charge_id}")
    assert await refund_entries(charge_id) == 1
