"""Retention: finished events and sent notices older than their setting are deleted in
batches; anything still owed, and the money's own rows, never are."""

from __future__ import annotations

from datetime import timedelta

from models.events.delivery import finish
from models.events.outbox import switch_events
from models.infra import metrics
from models.kinds import EntryKind, EventState
from models.ledger.credits import credit_charge
from models.ledger.entries import apply_entry
from models.queries.invariants import check_ledger
from models.retention import Retention, prune
from models.tables import Event, LedgerEntry, Notice, TopUpOrder
from models.values import Charge, utcnow
from tests.helpers import ALICE, BORIS, cid


def pruned_so_far(table: str) -> float:
    return float(metrics.ROWS_PRUNED.labels(table)._value.get())


async def test_old_finished_events_and_sent_notices_are_pruned_in_batches(db: str) -> None:
    await switch_events(True)
    now = utcnow()
    for i in range(12):
        await credit_charge(Charge(cid(f"c{i}"), ALICE["id"] if i % 2 else BORIS["id"], 10, "x"))
    await apply_entry(ALICE["id"], 5, EntryKind.DEV_CREDIT)
    events = await Event.all().order_by("entry_id")
    old, recent = now - timedelta(days=40), now - timedelta(days=2)
    # 8 finished long ago (6 delivered, 2 abandoned), 2 finished lately, 3 still owed.
    for i, event in enumerate(events[:10]):
        state = EventState.ABANDONED if i in (1, 2) else EventState.DELIVERED
        await finish(event.id, event.user_id, state, old if i < 8 else recent)
    notices = await Notice.all().order_by("id")
    await Notice.filter(id__in=[n.id for n in notices[:7]]).update(sent_at=old)
    await Notice.filter(id__in=[n.id for n in notices[7:9]]).update(sent_at=recent)
    # Owed notices created long ago are owed all the same.
    await Notice.filter(id__in=[n.id for n in notices[9:]]).update(created_at=old)
    ledger_before = await LedgerEntry.all().count()
    events_metric, notices_metric = pruned_so_far("events"), pruned_so_far("notices")

    pruned = await prune(Retention(events_days=30, notices_days=30), now=now, batch=3)

    assert pruned == {"events": 8, "notices": 7}
    assert pruned_so_far("events") - events_metric == 8
    assert pruned_so_far("notices") - notices_metric == 7
    left = [str(state) for state in await Event.all().values_list("state", flat=True)]
    assert sorted(left) == ["delivered", "delivered", "pending", "pending", "pending"]
    assert await Notice.filter(sent_at=None).count() == len(notices) - 9
    assert await Notice.all().count() == len(notices) - 7
    assert await LedgerEntry.all().count() == ledger_before
    assert await TopUpOrder.all().count() == 0
    assert (await check_ledger()).ok
    # A pending event still reaches its backend: its user's head is untouched.
    assert await Event.filter(state="pending").exclude(next_attempt_at=None).count() >= 1

    assert await prune(Retention(events_days=30, notices_days=30), now=now) == {
        "events": 0,
        "notices": 0,
    }
    # 0 keeps a kind for good.
    later = now + timedelta(days=400)
    assert await prune(Retention(events_days=0, notices_days=0), now=later) == {}
    assert await Event.all().count() == 5
