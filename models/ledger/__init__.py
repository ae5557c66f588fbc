"""The money rules. Every balance change in the system goes through this module
(debits and their reversals through `models.ledger.debits`, on the same `_post` steps).

Each operation is one database transaction whose first statement is a write: on
SQLite that takes the write lock before anything is read (a deferred transaction
that reads first cannot wait for the lock and fails), and on PostgreSQL it locks
what the operation is about. Balances move only by relative updates in the same
transaction as the ledger row that explains them, and that row records the balance
after it (`stars_balance_after`), so each user's rows form a chain `check` verifies.

The balance moves first and its ledger row is written second: the user's row stays
locked (the database, on SQLite) until commit, so one user's rows take their ids in
the order their balances were taken, and the chain holds in id order. A unique key
violated by the ledger row (a charge or debit already posted) raises out of the
transaction block, which rolls everything back, the balance move included, on both
databases; callers catch it outside the block.
"""
