"""Debits with idempotency keys and their reversals (models.wallet), and the balance
after each ledger row, filled for existing rows with the running sum of their user's
rows in id order (see the PostgreSQL migration of the same name).

Written by hand: aerich cannot alter a column comment on SQLite, and SQLite adds a
NOT NULL column only with a default (0 here; every insert names the value, and a row
that did not would break the chain `check` verifies). The fill needs SQLite 3.33
(UPDATE … FROM) and window functions (3.25). A downgrade keeps `debit_id` and the
`debits` table: SQLite cannot drop a column that is part of a foreign key."""

from tortoise import BaseDBAsyncClient

RUN_IN_TRANSACTION = True


async def upgrade(db: BaseDBAsyncClient) -> str:
    return """
        CREATE TABLE IF NOT EXISTS "debits" (
    "id" CHAR(36) NOT NULL PRIMARY KEY,
    "amount" BIGINT NOT NULL,
    "reason" TEXT NOT NULL,
    "idempotency_key" VARCHAR(128) NOT NULL UNIQUE,
    "created_at" TIMESTAMP NOT NULL,
    "reversed_at" TIMESTAMP,
    "reversal_reason" TEXT,
    "user_id" BIGINT NOT NULL REFERENCES "users" ("id") ON DELETE RESTRICT
);
        ALTER TABLE "ledger_entries" ADD "debit_id" CHAR(36) REFERENCES "debits" ("id") ON DELETE RESTRICT;
        ALTER TABLE "ledger_entries" ADD "stars_balance_after" BIGINT NOT NULL DEFAULT 0;
        UPDATE "ledger_entries" SET "stars_balance_after" = r."after"
          FROM (SELECT "id", SUM("amount") OVER (PARTITION BY "user_id" ORDER BY "id") AS "after"
                  FROM "ledger_entries") AS r
         WHERE r."id" = "ledger_entries"."id";
        CREATE UNIQUE INDEX IF NOT EXISTS "uid_ledger_entr_debit_i_bc4392" ON "ledger_entries" ("debit_id", "kind");
        CREATE INDEX IF NOT EXISTS "idx_ledger_entr_user_id_bc8069" ON "ledger_entries" ("user_id", "id");"""


async def downgrade(db: BaseDBAsyncClient) -> str:
    return """
        DROP INDEX IF EXISTS "idx_ledger_entr_user_id_bc8069";
        DROP INDEX IF EXISTS "uid_ledger_entr_debit_i_bc4392";
        ALTER TABLE "ledger_entries" DROP COLUMN "stars_balance_after";"""


MODELS_STATE = (
    "eJztXW1v2zgS/iuEv1wLZIPUSZNs7nCAGztddxMncJxesc1BS0uMzY1EakUqrtHrf78hLV"
    "nvruXYqezqS1sPORT1DEnNPByyXxsOt4gt9ttkSGXjDH1tMOwQ+EeyYA81sOtGYiWQeGjr"
    "mpaqokV4KKSHTdXQA7YF2VOFwvSoKylnqu6txJ5AmCFoDgmXMIkePO4gjIbYxswEFQ5/Ip"
    "d4iFrEcbkkzJyiRzJFrwQh6M+gXxNs20T++XpfPdfiJjyYstFmHnHP7tlgTJDHJ4iRJ9Az"
    "x5iNiEBDHxrn0I4UyFMlAtv/RBLqPlBPSOiFmEB1ybXMI3/7BKRU3LOhT+2gY1SiV5hZuh"
    "GbWCNQgCf9Q4T9/QU/SOK93kOCw0t4xLXxFI3oEzwfVPEIU6ZR8BmF9g3JRwSe5gEWn/8L"
    "Ysos8oWI8Kf7aDxQYlsJY1NLNaDlhpy6WnZ3121f6JoK4aFhctt3WFTbncoxZ/Pqvk+tfa"
    "WjykaEEQ9LYsVGAvNtOxgyoWjWYxBIzyfzrlqRwCIP2LfVeGr868FnphpGSD9J/XH076Br"
    "sWqG0bseGLedgWE0MsNPdSE1XAKRyZkaupRJBdTXb7N2I0C0tKEecP5bq//q8Pi1hoALOf"
    "J0oYar8U0rYolnqhr0CGXscJ/JLNLv6KjLZD7WkU4KbzqTlkU6FERQRzM1BDGEaQPAQn/h"
    "r19+bTYPD0+aB4fHp2+PTk7enh6cQl3d42zRyQJrvOu+7/YGqkMcFp7ZeqQEyhAR8B7BAv"
    "qZAX5AvhTAHmmkYIeX2ULYFyA46HzS+DlC/G0rQe9jq68H+VXrkx7lzjQoubzuvQ+rR3D3"
    "zi+v36UAj62rBqyrWeTPx9grWlwyqusxwffXmE2Oewd/MWzCRnIMP980TxdYJMQfar1OQR"
    "0UNWdlScxNGLOAhoFzVpg2lEjqkHzIk5optK1AdT/8x44N/+5V53bQurpJzIF2a9BRJc3E"
    "+A+lr45Tdpk3gv7THfyG1E/0x3Wvk/5GzOsN/mioPmFfcoPxiYGtOCahOBSl1jLlZqxk55"
    "TqGgwdTKHazpuyM7aNVT5eGdWVltAtsu4mPmK+IJ6R5xkv8tdiSrXDVsphU8HJw2Ou46xA"
    "zZrhgnuEjtjvZKpN0YV+q3ApB/ogoLsLmtkyE3wLx1gojaamhyfzaC4+9ODd4Y2J1G/fh7"
    "Wo3z0HjBXEQ2w+TrBnGQVYQ7zsUSJyRn2gePF7n9hYv0Qh0pc6jO1AU9OtXWcyeGv4eJPH"
    "YEsAmi1ymk5aghke6VdSz1ZPChD7wIe3EmuDZTiYedneIhrmLz40xLzad5mYFlJPsZAN3w"
    "iCFP9g+p7gnuYz1DuNPIg8LQTNCiTAXYe6wykS6tuCbeR63CRCEJElYNba8jNIDf13icgj"
    "rL9z4cZhc4lo47BZGGyoosXMxpjbVt4SXeyjRBq1a1LeNdFTy/CZpHbZICClWgcBVQ4CZg"
    "tn1sQfbq97BbH8XCNtWWpK9D9kU7ExNzTG0Wp6mzKxrx77I2hahdDiaZeeYSnzqQYyEYFr"
    "rUixJDV3kGJRjKl1zexp6Cxt7Sycu3oJB7nYdd6kVxj3o3Mcw5SbXewbzraVjJhv/10Hsd"
    "jyOS7Z54aEcGPkYcdw8dSB5xgm+FkjEsQjjzAqG/Cmn2ebhQlpyp37HI9jYsyk1o4V0UB1"
    "6f2sRVH7sgF78Kmrrt/3gtsrP+M+V+OWjhixzhAMTEvt10LwgmC5oZI+kXQg9ONNFJlET7"
    "WMQVQs1GG+k+FPEqYJdau8E9YYXN/c3cBk467v3rN+5+Ku1z5DHgGPxLpn7c5H47zfaXcH"
    "Z8giT8bMfPes1f5wdzu46vRAjq2/fCHV2qXqv5tVHdLwl9HvfOz0b1uXgdgIWdYlzZ7cAD"
    "peZv8n/c2Lbf8cp3d/Fq+/y0Zli1upI7XykRpm3MF2qR3QmMouIL4ZLiJG83BZjuYJ6u8e"
    "ts23b5cAF2oVoqvLkvAKlU5lBKlIhk5FKvdlL2igyp/5Svpb9U7/7oahwbKykAuKR07LZu"
    "rFdZ6Rr1exVe852XkRntyzCvZ3i/GM69R41tvl9XZ59Uywvu3yzGqxBlAH3L1zr8PGtnKd"
    "+C6y8VVyCWit8IjBM6GdH1XYTVTj3/LS+R2bJKl7XFIzN3EhKNlbRE0zXWfJ4yMt5BAhoB"
    "uIT4ilzlVgpObxHpp4VErC0ITKsT5s4XBGpsFBDRBgiUwMVdUxi7yUhbW0Gx4UGXKJBGGW"
    "PqBhw0j0ENTDyMUmQYOAY0HYNIkrRXCuQ9h8glSSBKY29OqeqQaugl7NTp0AdngqVCWfWZ"
    "wI0JoRWXs6y0L9wmKMdBHAimwuSPi6K5P2zzlCUlPuL0W5F/O7+ehvA6e7anJ9za1WL47Y"
    "DLe6JftMBzuw9ESoB0xeOdhjSjXuq+GOwQ9xXJmTmVs82GMqOwN7883RydHp4fHRHO25ZB"
    "HIWUAZLNVGANEKXGqO+ssQqi/p3WwJf7pUMp1QH93ydo6p1cmSVbZvvS1SvHTu7rZITTvX"
    "tHMVTPBc2vm8dXveand+FIkX46VziLwka11M5un0K0PzvxvIMl2UKapOPvkikyUaTyD92W"
    "8/abRsMbuIhrInTtUVOHhqc2yl6dD17xKWzxWtVAC/+ZV7bUFNMA8yeC6X6hlpvxwx2HAJ"
    "sxREJUfzTafX7vben6FA/57dtLpt+ImpFWaAduY5oARknU833b4SkS8u9ZTkotW9VAJFup"
    "Ml58Gm2cZgchq+l3O2q5heTKnVfGJ5PnG7AoiaBlgtTJxNfrGClZOaOxgm7pKZzTExH7m/"
    "CuOTUq1ZnyrbWX3uV7BxTK22b5XtG7pvK913lVCt7VxlO9eb7NV0imt+teZXq2CC+hasau"
    "C90Vuw9NjM4Z/DMVvMPCuzb55yfvHsx/XQx+WHSWOepaqARXRZbqwSyZCqy/mXfxU7DnGd"
    "2k0o7ybo++6NsqgntWrcV7gJDLORD4spgGqVgj6jWKNfHv3E2eZyX4CM6s4k6NWnoasyHX"
    "Y57ae+im3HrJ7DEpW9ii11pvCZ4duy5wmrZv/CyC15g6iKTV8yvt1KmGKnE1fHKToGuYsQ"
    "RdleqyNU6lT01qC0SaakRTxqjhs5XElQsreILcFRncrQJT/LSdFnpnoV0x7qOjqa9z+FFB"
    "8Djans4EnQjdyHpSZVCYSD6juI7puDg2VS3w4OinPfVFkqmONMkrx80AU3XkcqL3/l9Y/h"
    "MtZ2uXUJ33r9H7Nv/wcqo08/"
)
