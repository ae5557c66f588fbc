"""Debits with idempotency keys and their reversals (models.wallet), and the balance
after each ledger row. Existing rows get the running sum of their user's rows in id
order, the order `_post` now gives them, so each user's history is a chain `check`
verifies and the last link equals the balance wherever the balance equals its sum."""

from tortoise import BaseDBAsyncClient

RUN_IN_TRANSACTION = True


async def upgrade(db: BaseDBAsyncClient) -> str:
    return """
        CREATE TABLE IF NOT EXISTS "debits" (
    "id" UUID NOT NULL PRIMARY KEY,
    "amount" BIGINT NOT NULL,
    "reason" TEXT NOT NULL,
    "idempotency_key" VARCHAR(128) NOT NULL UNIQUE,
    "created_at" TIMESTAMPTZ NOT NULL,
    "reversed_at" TIMESTAMPTZ,
    "reversal_reason" TEXT,
    "user_id" BIGINT NOT NULL REFERENCES "users" ("id") ON DELETE RESTRICT
);
COMMENT ON TABLE "debits" IS 'Stars an app spent from a balance, once per idempotency key (see `models.wallet`).';
        ALTER TABLE "ledger_entries" ADD "debit_id" UUID;
        ALTER TABLE "ledger_entries" ADD "stars_balance_after" BIGINT;
        UPDATE "ledger_entries" AS l SET "stars_balance_after" = r."after"
          FROM (SELECT "id", SUM("amount") OVER (PARTITION BY "user_id" ORDER BY "id") AS "after"
                  FROM "ledger_entries") AS r
         WHERE r."id" = l."id";
        ALTER TABLE "ledger_entries" ALTER COLUMN "stars_balance_after" SET NOT NULL;
        COMMENT ON COLUMN "ledger_entries"."kind" IS 'TOPUP: topup\nREFUND: refund\nDEV_CREDIT: dev_credit\nADJUSTMENT: adjustment\nDEBIT: debit\nDEBIT_REVERSAL: debit_reversal';
        ALTER TABLE "ledger_entries" ADD CONSTRAINT "fk_ledger_e_debits_6e3bb8ce" FOREIGN KEY ("debit_id") REFERENCES "debits" ("id") ON DELETE RESTRICT;
        CREATE UNIQUE INDEX IF NOT EXISTS "uid_ledger_entr_debit_i_bc4392" ON "ledger_entries" ("debit_id", "kind");
        CREATE INDEX IF NOT EXISTS "idx_ledger_entr_user_id_bc8069" ON "ledger_entries" ("user_id", "id");"""


async def downgrade(db: BaseDBAsyncClient) -> str:
    return """
        DROP INDEX IF EXISTS "idx_ledger_entr_user_id_bc8069";
        DROP INDEX IF EXISTS "uid_ledger_entr_debit_i_bc4392";
        ALTER TABLE "ledger_entries" DROP CONSTRAINT IF EXISTS "fk_ledger_e_debits_6e3bb8ce";
        ALTER TABLE "ledger_entries" DROP COLUMN "debit_id";
        ALTER TABLE "ledger_entries" DROP COLUMN "stars_balance_after";
        COMMENT ON COLUMN "ledger_entries"."kind" IS 'TOPUP: topup\nREFUND: refund\nDEV_CREDIT: dev_credit\nADJUSTMENT: adjustment';
        DROP TABLE IF EXISTS "debits";"""


MODELS_STATE = (
    "eJztXW1v2zgS/iuEv1wLZIPUSZNs7nCAGztddxMnsJ1esc1BS0uMw41EakUqrtHrf78hLV"
    "nvruXYqezqS1sPORT1DEnNPByyXxsOt4gt9ttkRGXjDH1tMOwQ+EeyYA81sOtGYiWQeGTr"
    "mpaqokV4JKSHTdXQPbYF2VOFwvSoKylnqu5AYk8gzBA0h4RLmET3HncQRiNsY2aCCoc/kU"
    "s8RC3iuFwSZk7RI5miV4IQ9GfQrwm2bSL/fL2vnmtxEx5M2Xgzj7hjd2z4QJDHJ4iRJ9Az"
    "HzAbE4FGPjTOoR0pkKdKBLb/iSTUvaeekNALMYHqkmuZR/72CUipuGMjn9pBx6hErzCzdC"
    "M2scagAE/6hwj7+wu+l8R7vYcEh5fwiGvjKRrTJ3g+qOIxpkyj4DMK7RuSjwk8zQMsPv8X"
    "xJRZ5AsR4U/30binxLYSxqaWakDLDTl1tez2ttu+0DUVwiPD5LbvsKi2O5UPnM2r+z619p"
    "WOKhsTRjwsiRUbCcy37WDIhKJZj0EgPZ/Mu2pFAovcY99W46nxr3ufmWoYIf0k9cfRv4Ou"
    "xaoZRu96aAw6Q8NoZIaf6kJquAQikzM1dCmTCqiv32btRoBoaUM94Py3Vv/V4fFrDQEXcu"
    "zpQg1X45tWxBLPVDXoEcrY4T6TWaTf0XGXyXysI50U3nQmLYt0KIigjmZqCGII0waAhf7C"
    "X7/82mweHp40Dw6PT98enZy8PT04hbq6x9mikwXWeNd93+0NVYc4LDyz9UgJlCEi4D2CBf"
    "QzA/yQfCmAPdJIwQ4vs4WwL0Bw2Pmk8XOE+NtWgt7HVl8P8qvWJz3KnWlQcnndex9Wj+Du"
    "nV9ev0sBHltXDVhXs8ifP2CvaHHJqK7HBN9fYzY57h38xbAJG8sH+PmmebrAIiH+UOt1Cu"
    "qgqDkrS2JuwpgFNAycs8K0oURSh+RDntRMoW0FqvvhP3Zs+HevOoNh6+omMQfarWFHlTQT"
    "4z+UvjpO2WXeCPpPd/gbUj/RH9e9TvobMa83/KOh+oR9yQ3GJwa24piE4lCUWsuUm7GSnV"
    "OqazB0MIVqO2/Kztg2Vvl4ZVRXWkK3yLqb+Ij5gnhGnme8yF+LKdUOWymHTQUn94+5jrMC"
    "NWuGC+4ROma/k6k2RRf6rcKlHOiDgO42aGbLTPAtHGOhNJqaHp7Mo7n40IN3hzcmUr99H9"
    "aifvccMFYQj7D5OMGeZRRgDfGyR4nIGfWB4sXvfWJj/RKFSF/qMLYDTU23dp3J4K3h400e"
    "gy0BaLbIaTppCWZ4rF9JPVs9KUDsAx8NJNYGy3Aw87K9RTTMX3xkiHm17zIxLaSeYiEbvh"
    "EEKf7B9D3BPc1nqHcaexB5WgiaFUiAuw51R1Mk1LcF28j1uEmEICJLwKy15WeQGvrvEpFH"
    "WH/nwo3D5hLRxmGzMNhQRYuZjQduW3lLdLGPEmnUrkl510RPLcNnktplg4CUah0EVDkImC"
    "2cWRN/GFz3CmL5uUbastSU6H/IpmJjbmiMo9X0NmViXz32R9C0CqHF0y49w1LmUw1kIgLX"
    "WpFiSWruIMWiGFPrmtnT0Fna2lk4d/USDnKx67xJrzDuR+c4hik3u9g3nG0rGTHf/rsOYr"
    "Hlc1yyzw0J4cbYw47h4qkDzzFM8LPGJIhHHmFUNuBNP882CxPSlDv3OR7HxJhJrR0rooHq"
    "0vtZi6L2ZQP24FNXXb/vBbdXfsZ9rsaAjhmxzhAMTEvt10LwgmC5oZI+kXQg9ONNFJlET7"
    "WMQVQs1GG+k+FPEqYJdau8E9YYXt/c3sBk467v3rF+5+K21z5DHgGPxLpj7c5H47zfaXeH"
    "Z8giT8bMfHes1f5wOxhedXogx9ZfvpBq7VL1382qjmj4y+h3Pnb6g9ZlIDZClnVJsyc3gI"
    "6X2f9Jf/Ni2z/H6d2fxevvslHZ4lbqSK18pIYZd7Bdagc0prILiG+Gi4jRPFyWo3mC+ruH"
    "bfPt2yXAhVqF6OqyJLxCpVMZQSqSoVORyn3ZCxqo8me+kv5WvdO/u2FosKws5ILikdOymX"
    "pxnWfk61Vs1XtOdl6EJ/esgv3dYjzjOjWe9XZ5vV1ePROsb7s8s1qsAdQhd2/d67CxrVwn"
    "votsfJVcAlorPGLwTGjnRxV2E9X4t7x0fscmSeoel9TMTVwISvYWUdNM11ny+EgLOUQI6A"
    "biE2KpcxUYqXm8hyYelZIwNKHyQR+2cDgj0+CgBgiwRCaGquqYRV7KwlraDQ+KjLhEgjBL"
    "H9CwYSR6COph5GKToGHAsSBsmsSVIjjXIWw+QSpJAlMbenXHVANXQa9mp04AOzwVqpLPLE"
    "4EaM2IrD2dZaF+YfGAdBHAimwuSPi6K5P2zzlCUlPuL0W5F/O7+ehvA6e7anJ9za1WL47Y"
    "DLe6JftMBzuw9ESoB0xeOdhjSjXuq+GOwQ9xXJmTmVs82GMqOwN7883RydHp4fHRHO25ZB"
    "HIWUAZLNVGANEKXGqO+ssQqi/p3WwJf7pUMp1QH93ydo6p1cmSVbZvvS1SvHTu7rZITTvX"
    "tHMVTPBc2vm8NThvtTs/isSL8dI5RF6StS4m83T6laH53w1kmS7KFFUnn3yRyRKNJ5D+7L"
    "efNFq2mF1EQ9kTp+oKHDy1ObbSdOj6dwnL54pWKoDf/Mq9tqAmmAcZPJdL9Yy0X44YbLiE"
    "WQqikqP5ptNrd3vvz1Cgf8duWt02/MTUCjNAO/McUAKyzqebbl+JyBeXekpy0epeKoEi3c"
    "mS82DTbGMwOQ3fyznbVUwvptRqPrE8n7hdAURNA6wWJs4mv1jByknNHQwTd8nM6jOwgo1j"
    "ajXbU2X7hp/1le5BSqjWdq6ynevN12o6SzXvVvNuVTBBfTtSNfDe6O1Iemzm8JLhmC1mJJ"
    "XZN09FvnhW3HpoxfLDpDHPXlTAIrosZ1KJJDnV5fxLoYodh7hO7SaUdxP0PehGWdSTWjXu"
    "K9wQhdnYh8UUQLVKQZ9RrNEvj37izGu5L0BGdWcSt+pTslWZDrucDlJf0bVjVs9hicpe0Z"
    "U6a/bM8G3Zc2ZVs39h5Ja8WVLFpi8Z324lTLFTa6vjFB2P20WIoiyg1REqdVp2a1DaJFPS"
    "Ih41Hxo5XElQsreILcFRncrQJT/LCcJnpgAV0x7qmjKa9z9IFB8PjKns4AnBjdyTpCZVCY"
    "SD6juI7puDg2VSog4OinOiVFkqmONMkrw8wQU3IUcqL38V8o/hMtZ26XEJ33r9H7Nv/wcf"
    "orOP"
)
