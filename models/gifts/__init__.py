"""Buying Telegram gifts and Premium from a user's balance, exactly once, through calls
that carry no idempotency key: `rules` (what an answer means, the settling rule),
`catalog` (getAvailableGifts, cached), `store` (the purchases and their ledger rows)."""
