from tortoise import BaseDBAsyncClient

RUN_IN_TRANSACTION = True


async def upgrade(db: BaseDBAsyncClient) -> str:
    return """
        CREATE TABLE IF NOT EXISTS "job_state" (
    "name" VARCHAR(32) NOT NULL PRIMARY KEY,
    "holder" VARCHAR(64),
    "lease_until" TIMESTAMP,
    "cursor" JSON NOT NULL,
    "updated_at" TIMESTAMP NOT NULL
) /* A named lease and cursor for background jobs shared by several processes. */;
CREATE TABLE IF NOT EXISTS "users" (
    "id" BIGINT NOT NULL PRIMARY KEY /* Telegram user id */,
    "username" VARCHAR(64),
    "first_name" VARCHAR(128),
    "language_code" VARCHAR(16),
    "stars_balance" BIGINT NOT NULL,
    "created_at" TIMESTAMP NOT NULL,
    "updated_at" TIMESTAMP NOT NULL
);
CREATE TABLE IF NOT EXISTS "notices" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "kind" VARCHAR(16) NOT NULL,
    "telegram_payment_charge_id" VARCHAR(128),
    "amount" BIGINT NOT NULL,
    "balance" BIGINT NOT NULL,
    "attempts" INT NOT NULL,
    "next_attempt_at" TIMESTAMP NOT NULL,
    "sent_at" TIMESTAMP,
    "created_at" TIMESTAMP NOT NULL,
    "user_id" BIGINT NOT NULL REFERENCES "users" ("id") ON DELETE CASCADE,
    CONSTRAINT "uid_notices_telegra_2ef31c" UNIQUE ("telegram_payment_charge_id", "kind")
) /* A message owed to a user, written with the money change that caused it. */;
CREATE INDEX IF NOT EXISTS "idx_notices_next_at_4078e4" ON "notices" ("next_attempt_at");
CREATE TABLE IF NOT EXISTS "topup_orders" (
    "id" CHAR(36) NOT NULL PRIMARY KEY /* Also the invoice payload */,
    "amount" INT NOT NULL,
    "status" VARCHAR(16) NOT NULL /* PENDING: pending\nPAID: paid\nREFUNDED: refunded\nEXPIRED: expired\nFAILED: failed */,
    "invoice_url" VARCHAR(256),
    "created_at" TIMESTAMP NOT NULL,
    "expires_at" TIMESTAMP NOT NULL,
    "paid_at" TIMESTAMP,
    "refunded_at" TIMESTAMP,
    "telegram_payment_charge_id" VARCHAR(128),
    "user_id" BIGINT NOT NULL REFERENCES "users" ("id") ON DELETE RESTRICT
);
CREATE INDEX IF NOT EXISTS "idx_topup_order_created_85cf65" ON "topup_orders" ("created_at");
CREATE INDEX IF NOT EXISTS "idx_topup_order_user_id_fc28ac" ON "topup_orders" ("user_id", "status");
CREATE INDEX IF NOT EXISTS "idx_topup_order_user_id_62ee9d" ON "topup_orders" ("user_id", "created_at");
CREATE TABLE IF NOT EXISTS "ledger_entries" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "amount" BIGINT NOT NULL /* Signed: credits are positive */,
    "kind" VARCHAR(16) NOT NULL /* TOPUP: topup\nREFUND: refund\nDEV_CREDIT: dev_credit\nADJUSTMENT: adjustment */,
    "telegram_payment_charge_id" VARCHAR(128),
    "anomaly" VARCHAR(32),
    "note" VARCHAR(255),
    "created_at" TIMESTAMP NOT NULL,
    "order_id" CHAR(36) REFERENCES "topup_orders" ("id") ON DELETE RESTRICT,
    "user_id" BIGINT NOT NULL REFERENCES "users" ("id") ON DELETE RESTRICT,
    CONSTRAINT "uid_ledger_entr_telegra_f4aae2" UNIQUE ("telegram_payment_charge_id", "kind")
);
CREATE INDEX IF NOT EXISTS "idx_ledger_entr_user_id_d2e136" ON "ledger_entries" ("user_id", "created_at");
CREATE TABLE IF NOT EXISTS "aerich" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "version" VARCHAR(255) NOT NULL,
    "app" VARCHAR(100) NOT NULL,
    "content" JSON NOT NULL
);"""


async def downgrade(db: BaseDBAsyncClient) -> str:
    return """
        """


MODELS_STATE = (
    "eJztXG1zmzgQ/isaPvVmcpnEeb3Mzc04sdO61ziZxOl12nQYGRRbDUgUiSSeXv77SRjMOw"
    "UXO5jjQ1+82hXiebRidyX4oZhURwbbfk/HNxxypJyAHwqBpvxPom0LKNCyghYp4HBsuMrf"
    "6FhlC7Ux4zbUuGi4hwZDQqQjptnY4pgSqd4F8io6MBBkCECiA82xGbXBvfgzhtrDxKaOkI"
    "puGWBTaAvd8Qww9IhsaADLphpiDLFteTmdauJ6mEwq79kh+LuDVE4niE+RLfr/8lWIMdHR"
    "M2L+T+tBvcfI0CPouf+KRrdF5TPLlZ6JC567unLcY1WjhmOSsL4141NKFgbixqR0gogYHk"
    "d6CFLiGIYHvy+aj1cIuO2gxUD1QKCje+gYkhhpPR9DIFNUdXg5Um/6I1VVEqT5FiG0PZFG"
    "iSQcE85cDEz4rBqITPhU/NzrvMyvEyAx15IX/Ni9PnvXvX6z1/lNXpCKWTOfT0OvpeM2vb"
    "hdQA7nnbjIB1BPqaEjuwzYgcVScHtgLtD2VQK4g2m/drwP9wvgfbifibdskngH+LqupDqE"
    "YyMJck/AxLGJ0oGOmcbQ1j3bbf8/m4d9DtajwUX/ZtS9uJLdm4x9N1y8uqO+bOm40llM+u"
    "YwxsuiE/DPYPQOyJ/g8+Ww76JJGZ/Y7hUDvdFnRY4JOpyqhD6pUA9j4ot9UYTn+UKZpPj9"
    "zeUwnd7AIs4s1jj4FxiY8WWWryKkKn/eO0STfIGxgw2OCduWl/1LWT/VEqEIy747vbnofo"
    "p72tmHy9M4fbKD05jbOZZ0C12FvKzXRS0rcLqlCFrlimcjqF8SY+YtCJvrhe7oZRBx/xB6"
    "tkmBjFWeoK2riRbaoVm6ySazY8YlkMCJy5kEVw7Ti/Q+IH2C7D7h9iwtEAw358aChquoIq"
    "GJESsUEGYznxKCfVE4MtDEhqZqwZkprqNq4lE/QSp2feFBzErlayxQ+6I4TAxqrqGJ+eM5"
    "yNfMCG6uGvW7UzwZEJ7udXP9mLeJGRv3L+8JVt/wbSKH8Psfnc7e3lFnZ+/w+GD/6OjgeO"
    "d4S3Ir2pJNRzkeeDp4OxiOog4lBflBHTRFmJ6y8uUxENj8nIXXW+WUGzwhSD8BYhbqmDMg"
    "chAgVhHM8SOK5zOvT1FAietXqVF2nzimS8lADBMSDSWo8W2rSW9WRMzo8ur2SjgbtRzrjl"
    "z3z2+HvRNgIxFo6Hek1/+onl33e4PRCdDRozqn7450e+9vb0YX/aGQQ/2bw7hckgoSGQnd"
    "dw8LhO678YdTELrLpihl+Qtl0XQpv5fmpVC7neMiRHSOs5mQbVEqIKEmNGZlcA+ZNA/kqu"
    "oCoZIL5eVKLp5+87DtHBwUAFdoZaLrtkXhDQVNJfORqGWbj9QlH/HmcG5RgNr6ImyOcn57"
    "O+il8x22ibHtOFjflpab52I5pM7XqjlLYfzdG41l9SwDzrzANmRU58i2hilGIrWOMpGk4Z"
    "zaSMTnf6NZIqCNQe+lxbdeNxtGwYs/x3xp4HA2fFqkw+GpJ+5d3DFyt4mUa7GwXA/ORkpy"
    "tagA1BG1bq1Lv7ONXCd+imx4lcyA9nXqQEPKsZa6F+i1bOVVf4irU6zso3SBiRgTwwD0Ce"
    "ki8wIQyBm3BZ5szDki4AnzKeBTBExK0AyIzIMIbT6FHGhQqOoA87RdwEr6vSN3ZCR0xpQD"
    "hojOhBAYYibaQOhBYEENgZGXHQGoacjibAsweTlm0Ccg9x0hNsSo7ojs4MIbFZHbjSKLNO"
    "CMSSWRYFLEhNU8qdxyNy7lL8imwG0SsAKDMuTfblV1sbb8VcvyV3atJR39TaivLJuNt1WR"
    "evCwkqrIhpR5dxqw2gSoj6Hhx1/FYQ8ZtbgvhzsUoYcpQoQk8NmTPWTSGNg7u/tH+8d7h/"
    "sLtBeSPJCTgBL0zFUPoiUKUynm66lOrTOg2ZBiVKEjKkw+Z8vzHDJrjyDVmd+2xpy9dDa3"
    "xtzWRNuaaB0o+NWa6Fn35qzb679W3S5UNE2p3UVLqtn1O/f0g+oWJ1dwdivvVJZ8f8Bhil"
    "Cp5rBW9gbVL29NLVGyCp1Xda8k/9ove1hV6RqMumVLTB4p1hCw4MygUI9XQKvfwip/VKtW"
    "CfzqV+7KkhrPDxJ4FjtpFVivrxaoWIjoEqKSs/mqP+wNhm9PgGd/R666g574CbHuH8DqL4"
    "5gISHrf7oaXEsRerawLSXn3cEHKZB1dlTQD1ZdYPScU3XslDcmsiuKMbPmlRA7B0WgFlo5"
    "51ISYG9WztBm/stlhnN/Z0uwHLVsYGbYJJrlyr8ExyGztsBTZ379J/kSHMdMW57rzHO7xV"
    "qbLda2utZW1+pAQXUnDrPLa6F4MXj7MDbrPcPzv6+RAd2byEQ69srjZi0tWXi/rLIG6c7N"
    "lOqjP2ez646S9tUXHNd+3K2a4uEyL7P5xxIlsAAXrYzU4vSbHHLZD6iEbZoXGVT/VY97bD"
    "OulkU5atU8nFcSgRmQTByxXgoc9VJoJwwbCHjlxVcRPtlMXeqIW8K0MSeu1nzQbbNqsu05"
    "jp9n/YXOcbRfrGkY6ym1nrJfrAl/R0xmU+vMyOo2CzJTsthr7P4LVMvjFLyp1USIgtMpyy"
    "NU6hXDjUFplbl9F9lYmyop2b3XspWX38NApzYJ/v/lZbZfPJqSnag/Cjf0vKxoThMyaeDL"
    "aiv58oZ0qhIIe+oNRHd3Z6dItrizk50uyrZYrkIJR2nn13K+exmYrP/Dl6+zA1nZJy5LhI"
    "7VP8xe/gPfahlV"
)
