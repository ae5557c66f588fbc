"""Reconciliation's rules: what Telegram's Stars ledger (getStarTransactions) means for
ours, as plain functions over plain values (no database, no Bot, no clock).

- `transactions`: one raw item read into a `Transaction`, whatever its shape;
- `deployment`: the cut-off ("paid before this database was deployed"), the one
  place that says what it means (the live payment handler asks it too);
- `sales`: which rows are our payments and refunds, whatever their label, and what
  each credits or gives back;
- `passes`: what one reconciliation pass does with the rows it read;
- `cursor`: where a pass starts reading and what it remembers for the next;
- `record`: Telegram's side of the invariant check (`run_bot.py check`);
- `backfill`: which payments from before deployment an operator's backfill credits.

`bot/reconcile.py` does the I/O around them: reading pages through the Bot, the
lease, the ledger look-ups, the credit and refund operations, logs and metrics.
"""
