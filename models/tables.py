"""Tortoise models: users, top-up orders, the ledger, outgoing notices and events, and
job state.

A balance is a cache of its user's ledger: it changes only in the same transaction as
the ledger row that explains it (see `models.ledger`). The enums of its columns are
in `models.kinds`.
"""

from __future__ import annotations

from typing import Any

from tortoise import fields
from tortoise.models import Model

from models.kinds import EntryKind, EventState, GiftKind, GiftState, OrderStatus


def charge_id_field() -> fields.TextField:
    """Telegram's `telegram_payment_charge_id`: no documented maximum, and real Stars
    charge ids run past 128 characters (TEXT on both databases; indexable there)."""
    return fields.TextField(null=True)


class User(Model):
    id = fields.BigIntField(primary_key=True, generated=False, description="Telegram user id")
    # Telegram decides these; it documents limits for some, not all: no cap of ours.
    username = fields.TextField(null=True)
    first_name = fields.TextField(null=True)
    language_code = fields.TextField(null=True)
    stars_balance = fields.BigIntField(default=0)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "users"


class TopUpOrder(Model):
    id = fields.UUIDField(primary_key=True, description="Also the invoice payload")
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="orders", on_delete=fields.RESTRICT
    )
    amount = fields.IntField()
    status = fields.CharEnumField(OrderStatus, max_length=16, default=OrderStatus.PENDING)
    invoice_url = fields.TextField(null=True)
    created_at = fields.DatetimeField(db_index=True)
    expires_at = fields.DatetimeField()
    # When a pre-checkout for it was approved: Telegram is taking the Stars, so pressing
    # Buy again must not give this order back (models.orders.opening.open_order).
    checkout_at = fields.DatetimeField(null=True)
    paid_at = fields.DatetimeField(null=True)
    refunded_at = fields.DatetimeField(null=True)
    telegram_payment_charge_id = charge_id_field()

    user_id: int

    class Meta:
        table = "topup_orders"
        indexes = (("user_id", "status"), ("user_id", "created_at"))


class Debit(Model):
    """Stars an app spent from a balance, once per idempotency key (models.ledger.debits).

    The row never changes but for its reversal; the first answer to the request is
    built from it (and its ledger row's balance-after), so a replay gives it again.
    """

    id = fields.UUIDField(primary_key=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="debits", on_delete=fields.RESTRICT
    )
    amount = fields.BigIntField()
    reason = fields.TextField()
    # One key, one debit, whichever user it names: the key belongs to the calling app.
    idempotency_key = fields.CharField(max_length=128, unique=True)
    created_at = fields.DatetimeField()
    reversed_at = fields.DatetimeField(null=True)
    reversal_reason = fields.TextField(null=True)

    user_id: int

    class Meta:
        table = "debits"


class Gift(Model):
    """A Telegram gift or Premium subscription bought from a user's balance
    (models.gifts), once per idempotency key; the outbox the leading worker sends from.

    `attempt_started_at` is written (and committed) before Telegram is called: an
    attempt that began and has no result is never called again, only settled from
    getStarTransactions (`transaction_id`, unique: one purchase row per gift).
    """

    id = fields.UUIDField(primary_key=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="gifts", on_delete=fields.RESTRICT
    )
    kind = fields.CharEnumField(GiftKind, max_length=16)
    to_user_id = fields.BigIntField(null=True)
    to_chat_id = fields.BigIntField(null=True)
    telegram_gift_id = fields.TextField(null=True)
    premium_months = fields.IntField(null=True)
    pay_for_upgrade = fields.BooleanField(default=False)
    star_count = fields.BigIntField()
    text = fields.TextField(null=True)
    state = fields.CharEnumField(GiftState, max_length=16, default=GiftState.PENDING)
    # One key, one purchase, whichever user it names: the key belongs to the calling app.
    idempotency_key = fields.CharField(max_length=128, unique=True)
    created_at = fields.DatetimeField()
    # When the sender may call Telegram (later after a 429); NULL once an attempt began.
    next_attempt_at = fields.DatetimeField(null=True)
    attempt_started_at = fields.DatetimeField(null=True)
    attempts = fields.IntField(default=0)
    # Star transaction ids have no documented length: TEXT, unique by unique_together.
    transaction_id = fields.TextField(null=True)
    failure_reason = fields.TextField(null=True)
    finished_at = fields.DatetimeField(null=True)

    user_id: int

    class Meta:
        table = "gifts"
        unique_together = (("transaction_id",),)
        indexes = (("state", "next_attempt_at"),)


class LedgerEntry(Model):
    id = fields.BigIntField(primary_key=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="ledger", on_delete=fields.RESTRICT
    )
    amount = fields.BigIntField(description="Signed: credits are positive")
    kind = fields.CharEnumField(EntryKind, max_length=16)
    order: fields.ForeignKeyNullableRelation[TopUpOrder] = fields.ForeignKeyField(
        "models.TopUpOrder", related_name="entries", null=True, on_delete=fields.RESTRICT
    )
    telegram_payment_charge_id = charge_id_field()
    debit: fields.ForeignKeyNullableRelation[Debit] = fields.ForeignKeyField(
        "models.Debit", related_name="entries", null=True, on_delete=fields.RESTRICT
    )
    gift: fields.ForeignKeyNullableRelation[Gift] = fields.ForeignKeyField(
        "models.Gift", related_name="entries", null=True, on_delete=fields.RESTRICT
    )
    anomaly = fields.CharField(max_length=32, null=True)
    note = fields.CharField(max_length=255, null=True)
    # The user's balance right after this row: each user's rows, in id order, form a
    # chain (previous + amount = this) that `check` verifies row by row.
    stars_balance_after = fields.BigIntField()
    created_at = fields.DatetimeField(auto_now_add=True)

    user_id: int
    order_id: str | None
    debit_id: str | None
    gift_id: str | None

    class Meta:
        table = "ledger_entries"
        # One top-up and at most one refund per Telegram charge, one debit row and at
        # most one reversal per debit; NULLs (development credits, adjustments) are
        # never equal, so they may repeat.
        unique_together = (
            ("telegram_payment_charge_id", "kind"),
            ("debit_id", "kind"),
            ("gift_id", "kind"),
        )
        indexes = (("user_id", "created_at"), ("user_id", "id"))


class Adjustment(Model):
    """A manual correction of a balance: who made it and why, next to its `adjustment`
    ledger row (models.ledger.adjustments). One idempotency key, one adjustment."""

    id = fields.UUIDField(primary_key=True)
    entry: fields.OneToOneRelation[LedgerEntry] = fields.OneToOneField(
        "models.LedgerEntry", related_name="adjustment", on_delete=fields.RESTRICT
    )
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="adjustments", on_delete=fields.RESTRICT
    )
    amount = fields.BigIntField(description="Signed, as on the ledger row")
    reason = fields.TextField()
    # The operator's name (`run_bot.py adjust --by`) or the service key's label.
    actor = fields.CharField(max_length=64)
    idempotency_key = fields.CharField(max_length=128, unique=True, null=True)
    created_at = fields.DatetimeField()

    entry_id: int
    user_id: int

    class Meta:
        table = "adjustments"


class Notice(Model):
    """A message owed to a user, written with the money change that caused it.

    The bot sends it later at a pace Telegram accepts, so a slow or failing
    sendMessage never delays or undoes a credit, and a crash does not lose it.
    """

    id = fields.BigIntField(primary_key=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="notices", on_delete=fields.CASCADE
    )
    kind = fields.CharField(max_length=16)
    telegram_payment_charge_id = charge_id_field()
    amount = fields.BigIntField(default=0)
    balance = fields.BigIntField(default=0)
    attempts = fields.IntField(default=0)
    next_attempt_at = fields.DatetimeField(db_index=True)
    # Indexed for retention (models.retention): sent notices are pruned oldest first.
    sent_at = fields.DatetimeField(null=True, db_index=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    user_id: int

    class Meta:
        table = "notices"
        unique_together = (("telegram_payment_charge_id", "kind"),)


class Event(Model):
    """A balance change owed to the app's backend, one per ledger row.

    Written in the ledger row's transaction (`models.events`), so a crash cannot lose one.

    Of a user's pending events exactly one, the head, has a `next_attempt_at`; the
    others wait behind it, so the sender finds what is due without reading backlogs.
    """

    id = fields.UUIDField(primary_key=True, description="Sent as evt_<hex>")
    entry: fields.OneToOneRelation[LedgerEntry] = fields.OneToOneField(
        "models.LedgerEntry", related_name="event", on_delete=fields.RESTRICT
    )
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="events", on_delete=fields.RESTRICT
    )
    type = fields.CharField(max_length=32)
    source = fields.CharField(max_length=32)
    state = fields.CharEnumField(EventState, max_length=16, default=EventState.PENDING)
    attempts = fields.IntField(default=0)
    next_attempt_at = fields.DatetimeField(null=True)
    # Retried until three days after this (written, or redelivered by the operator).
    queued_at = fields.DatetimeField()
    finished_at = fields.DatetimeField(null=True)
    last_error = fields.TextField(null=True)
    created_at = fields.DatetimeField()

    entry_id: int
    user_id: int

    class Meta:
        table = "events"
        # The last for retention (models.retention): finished events, oldest first.
        indexes = (
            ("state", "next_attempt_at"),
            ("state", "user_id", "entry_id"),
            ("state", "finished_at"),
        )


class JobState(Model):
    """A named lease and cursor for background jobs shared by several processes."""

    name = fields.CharField(max_length=32, primary_key=True)
    holder = fields.TextField(null=True)  # host:pid, and host names reach 63 characters
    lease_until = fields.DatetimeField(null=True)
    cursor: fields.JSONField[dict[str, Any]] = fields.JSONField(default=dict)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "job_state"
