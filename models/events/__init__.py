"""Balance events for the app's backend: an outbox written with each ledger row
(`outbox`), the steps of delivering them in order per user (`delivery`), and what the
operator sees and redelivers (`operator`). The sender itself is `bot/events.py`.

Of a user's pending events exactly one, the head, carries a `next_attempt_at`; the
others wait behind it with none. Everything that changes which event is the head
(writing one, finishing one, redelivering one) first locks the user's row, as every
balance move does, so a finish and a write for one user never miss each other.
"""
