"""The shared core, in layers (each imports only from the ones below it):

- `orders` (opening an order within its limits; the terms a payment is checked
  against) and `ledger` (credits, refunds, debits, other entries): the money rules,
  the only code that writes balances, orders and the ledger;
- `queries`: the read side the API, the bot and the CLI use instead of the tables; it
  answers with values (dataclasses), never with the tables' rows;
- `reconciliation`: what Telegram's Stars ledger means for ours (the deployment
  cut-off, which rows are our payments and refunds, a pass's steps, backfill), as pure
  functions over plain values: it uses only `values`;
- `users`, `notices`, `values`: rows and values the rules above share;
- `tables`: the Tortoise models, which nothing outside this package uses;
- `refusals` (`Refused`: how every rule says no) and `kinds` (the enums every layer
  shares): plain values, importing nothing of the ORM;
- `infra`: settings, database set-up, the SQL helper, logging, metrics, job leases.

Nothing is imported here, so `models.infra.settings` loads without the ORM.
"""
