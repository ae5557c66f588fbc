"""Gift and Premium purchases (models.gifts): the `gifts` outbox, and the ledger rows'
gift_id with its one-row-per-kind key."""

from tortoise import BaseDBAsyncClient

RUN_IN_TRANSACTION = True


async def upgrade(db: BaseDBAsyncClient) -> str:
    return """
        CREATE TABLE IF NOT EXISTS "gifts" (
    "id" CHAR(36) NOT NULL PRIMARY KEY,
    "kind" VARCHAR(16) NOT NULL /* GIFT: gift\nPREMIUM: premium */,
    "to_user_id" BIGINT,
    "to_chat_id" BIGINT,
    "telegram_gift_id" TEXT,
    "premium_months" INT,
    "pay_for_upgrade" INT NOT NULL,
    "star_count" BIGINT NOT NULL,
    "text" TEXT,
    "state" VARCHAR(16) NOT NULL /* PENDING: pending\nSENT: sent\nFAILED: failed */,
    "idempotency_key" VARCHAR(128) NOT NULL UNIQUE,
    "created_at" TIMESTAMP NOT NULL,
    "next_attempt_at" TIMESTAMP,
    "attempt_started_at" TIMESTAMP,
    "attempts" INT NOT NULL,
    "transaction_id" TEXT,
    "failure_reason" TEXT,
    "finished_at" TIMESTAMP,
    "user_id" BIGINT NOT NULL REFERENCES "users" ("id") ON DELETE RESTRICT,
    CONSTRAINT "uid_gifts_transac_c38608" UNIQUE ("transaction_id")
) /* A Telegram gift or Premium subscription bought from a user's balance */;
CREATE INDEX IF NOT EXISTS "idx_gifts_state_0b6a84" ON "gifts" ("state", "next_attempt_at");
        ALTER TABLE "ledger_entries" ADD "gift_id" CHAR(36) REFERENCES "gifts" ("id") ON DELETE RESTRICT;
        CREATE UNIQUE INDEX "uid_ledger_entr_gift_id_18d677" ON "ledger_entries" ("gift_id", "kind");"""


async def downgrade(db: BaseDBAsyncClient) -> str:
    return """
        DROP INDEX IF EXISTS "uid_ledger_entr_gift_id_18d677";
        ALTER TABLE "ledger_entries" DROP COLUMN "gift_id";
        DROP TABLE IF EXISTS "gifts";"""


MODELS_STATE = (
    "eJztXetT47YW/1c0+XKXGbrDwr7K7XQmkOw2LQQGwnanpWMUWyQqjpRaMpDp3f/9Hsl24v"
    "iRtZ0EnKAvPCQdSf4dPY7OOTr6tzHiDnHF6xbpU9k4RP82GB4R+GM+Yxc18Hg8S1YJEvdd"
    "XdJRRXQS7gvpYVtVdItdQXZVprA9OpaUM1X2UmJPIMwQVIfEmDCJbj0+Qhj1sYuZDSQcfq"
    "Ix8RB1yGjMJWH2BN2RCXoVdsklzoB4r4Nmd16rhh1uQ8uUDdbUxjW7Zr0hQR5/QIzcA6E9"
    "xGxABOr7UDuHiqRAnsoR2P0vklD2lnpCQjfEAxSXXKd55B+fQCoV16zvUzfsGZXoFWaOri"
    "RoWbX0HxF1+Ad8K4m3s4sEh6/wyNjFEzSg99A+kOIBpkzD4DMK9VuSDwi05gEYf/4FyZQ5"
    "5JGI6N/xnXVLievMsZs6qgKdbsnJWKddXXVan3RJBXHfsrnrj9is9Hgih5xNi/s+dV4rGp"
    "U3IIx4WBInNhaY77rhoImSgh5DgvR8Mu2qM0twyC32XTWiGj/d+sxWAwnpltSPtz+HXYsV"
    "s6zuWc+6bPcsq5EagKoLifESJtmcqcFLmVRA/fstqHcGiE5tqAaOf2levDp4v6Mh4EIOPJ"
    "2p4Wp804RY4oBUgz5DGY+4z2Qa6SM66DCZjfWMJoE3DVLLIh0lzKCezdUIxAimNQAL/YVf"
    "P/y4v39w8GF/7+D9x3dvP3x493HvI5TVPU5nfVjAjaPO5063pzrEYekJViSVoBgxA94jWE"
    "A/U8D3yGMO7DOKBOzwMRsI+wIEe+2vGr+REP+4KqH7pXmhB/lp86se5aNJmHNy1v0cFZ/B"
    "3T0+OTtKAB5bWC1YWNPIHw+xl7e4pEhXw4LvrzHrHPcj/Gi5hA3kEP59s/9xAUci/KHUTg"
    "LqMGs/yJvH3IYxC2hYOGOFaUGOpCOSDfk8ZQJtJyR9Hf2xZcO/c9q+7DVPz+fmQKvZa6uc"
    "/bnxH6W+ep/gy7QS9Hun9wtS/6I/zrrt5B4xLdf7o6H6hH3JLcYfLOzEMYmSo6TEWqbEjE"
    "p8TpCugNHhFDJ8XhefsWtV2bxSpJWW0A3i7jo2MV8Qz8qSjBfJazEiI7CVEtjU4eT2LlNw"
    "VqCm2fCJe4QO2G9kolnRgX6r41IG9OGx7iqsZsNY8C0aY1HqbGp6+GF6mosPPfh2+GIi9d"
    "dfwFp00TkGjBXEfWzfPWDPsXKwhgOzR4nIGPUh4affLoiL9UfkIn2ij7FtqGqysetMCm8N"
    "H9/nMdjmAE1njfZHyRTM8EB/kmpbtRQi1r4nLFMFE2TsLlLBEFWkoAqmGWkVQh0G4g/EiR"
    "QU0IRWO9h3hDlKTxKoSWZKibS6Zcn6lGrld49KkPcRZZpoTgUCX8MEDs79r25CSILvvYk0"
    "IraHxRDZmDEukcsFUQ3pms9uIVtNC6hpDF2APqOAGJFHqNWdqKK7utkhwdDFIRZAcsNgbw"
    "UpScJRRP2+0Tqda6h/CBsresBUoj4ZUq200b1QNQhoATp+C8lQZoiVogc5PkEPFOaILxFs"
    "x7oLChCXD0RBrc2fsF3D5FGFE/1qQMlYbmwBULN4ov7+66XrfBqXSgUIbCX30vppSB5/To"
    "7hp1QBaeRSsOefhqPyW6GFmD8EH+wXOAMf7OcegVXWvMAmuO/ZpeCdURiAiwAcrTRpfNvM"
    "H6XEsHmsI+Kng7oRLvpll4zzdrfV6X4+jDaNa9Zqn3S+tC/arUMEWxCF8xVxrlnzqNltwf"
    "kPUnEfMwc2E6fY6pLQB70vog5KnkZj2qD3SU6Fe0SGGJevaY6RPN3RZW+955b9N28/vP14"
    "8P7t9LgyTVl0SkmrkJM7bwrXxaqXDHKjfqmz+gUA9Ssp2eYIjS611kwGUZ2KYSU2J0jNZK"
    "4zn10spEU8j2dokfLVqPNURoNaXoNqTFIvYnoZRfmzeTZM9TylsI9TrQb85zWuGxvFc4/+"
    "p7BRpNXviXmQhv+MkR6HHwXBL2e2qNckKMqB+NwvwoKlrBqf6W2mUUOn7y6yaQygRGGTRg"
    "8+YuDhEVJUiHvo3CMj6o+Q8PvToqjP/cFw6g0amgVC60WGXWP5Sq9Z5FCqv2Yn3/M08Bnl"
    "vuzzx9AIEpgKHrh3B8WVaUHoRrRd4ybSJMCA9gIx6UYZGx5CS4p2J7X5aKT+dXZQn9zCOj"
    "T7IihqY9clziHCUF1YGzSMlV1joJxnoQJlC2EcgaAAA1XRhL6vmjLwO1Vf5E6ge1KqNNXB"
    "azYgUjnh9mamG4Fe3cQsOTD6bnZRMG0OA6uQ79nQXOBiq/BRgO3k2Uf+bMxXFhg5ClpMXr"
    "o95Jl9YO/g+6pqkCPaOuvqG587n3qHevxes/OL9mnn6vQQjYOlox66YZDkK0ns83SV5Maa"
    "nYefR2YHHGGxk1Xwj9EZ/CvjH26DlpqkmVzI1wll0RrNUHnNULggWiPO5LCMlSpNuEUTYW"
    "XWqjGeWCDyWf4YBquTYbI94hxETJaDcZo6AXIfyNe1505TnnaYH52dncwN86NOchxfnR61"
    "Ya/VYx4KUZmzwCipHOAsfddnns5oxZZY4R8zoF+0qj9mQW5W8gIr+cv1Cblsd0HSh6M5SP"
    "qfmp0T5QZyi6lbFx8QcwnLXMLakIVp0yxexhvoZfE7rW8ty/LsGgzXN4DrxolyVcfShNq+"
    "jISeojSyenlZXUmnvkcqXClNUxr8K+Bv/A1fxMZhHKKMV04dWGBuDtcD77XeHP6V9y+1Gi"
    "3Dz2aat7vI1+Zv3remmrgi/jaqFUf5qAiiPUVs3xPc05HQ1DcNPO5DKlQrkBhiD8r2lZPI"
    "PbDSRWOP20QIIrIuE6+w5iXCoenfqWGcry6Lym+djmxVVwjz/UGG3HWyluh8UXRGYUTQ8i"
    "KonlqWzyR1y4qgCVIjgtZZBA0WzjSLf7086+YooKcUSc5SW6L/IZeKtYmhMc82HRiTMvFa"
    "Nfsczm0KocXTLjnDEuxTFaRiCY2dinaBecottAuoWIvOGXMnkbC0sbNwKuql3NaLOrSvTi"
    "qMy9EZgmFCzM6XDYNoLFZMtv+ugJjP+Wxf3silaownI2hHObl5AxKeR7TPpw5zoqPxplJj"
    "flhBYsoVOHa4idnYNHEsq3SolEVH+aKn+HD/q68w+ITeGy8xbG7jkg6Y8sKHgemo8M9wok"
    "GwBlFJ71NXEp6fRS/Ii7t3dn51DpONj/3xNbtof7rqtg6RR0BMcVQ0kC/W8UW71empcCD3"
    "VsC+a9Zs/Xp12TvVfiHY+dsXcqS9Q1rto6Bon0b/WRftL+2Ly+ZJmGxFQRuv2SIP8iDXCl"
    "xP9NoX+J/o1FmVOieqseBAWrfX+cJlvrT/bWYt5kBY/kCIGR9ht5R3UIxkGxBfd9QkxvMc"
    "5HK0SXwJn7haY7v/7l0BcKFULro6L+1tK6zwyp2l30ooJyvkVFBnwaGWEpzxgtve0264rC"
    "xUOcUPaEWvUcZplrhMWbNVb5mrkzM8c68n5cOZfyvpxaPJPSfHKJ8PZ5zG4Gmioxsfh/qx"
    "YHU+DqnVYgWg9vj4anwWVbaR68R3kY2vkgWgdaI35ZaEdvo23XaiGpeMCqA6CCOqLAlqFJ"
    "hlOzGNiUcriD60wFgTc4qKwvdnu0RFAYq+7xg1fQdgO1jzraQ9q8sltUkjw5QV5uwusmIx"
    "XaZwPKEREQLH3jIIAvvsTuPrqID+OkzPiDMyiV4+0OFzbAxF1bMAWd5NK6k3eo2yz2UYF4"
    "hKBKOHeAjKYTTGdizUD7ZtMpYifCpBuPxBhTJS7tz6DqOq4DTsVRDeB7DDE6EK+czhROgH"
    "FpR6e1c7ZEXPLeis6YML4edWtu8VdcwyhrjnNMTlW32y0d8ES09FTaaxj9Tw9Loe+8iGWJ"
    "/XfAfsiTXIsbB8xWGPERncq+Furjy+hHcjCiD+DKFL624DKeR3q9wxKvA5Rmb8quvMX2Pa"
    "zF86t9e0aYwdxthRBxYsa+w4bl4eN1vtlek5SyrxYtaQDEXevK0kX5mnnTItbXVYg0P6Iv"
    "9xdUnSFynf8bhbeSnV1RaGl2403fA5VMruOVXhzvHE5bhgTLRlbNPlPchrdYBf/8q9skNN"
    "OA9SeBYP+udnHRc3IurfebPTgn8xdSK/8PbUM1y9Cdn+et7R70SSxzHVr0TWMjZgMDkt38"
    "u4BpqvXkyQGX3itr+JZdQA1Y6JweQXFbg8T7mFx8RtYrM9JPYd96tofBKkRutTZz6r7b4C"
    "j2Nkhr915m8kvlXgcYLU8LnOfDZG9noKxUa/avSrdWDB6pzJ8xWsJmDeMwfM02MzQ/8cjd"
    "l8zbNi+/pVzk/u/bga9XH5YdKYeqkqYBEtqhurhTOk6nJ2nMB8wSFOY8SEKvGTPSGtsqjP"
    "UxncKwQNxGzgw2IKoGY9JpYPfYrQoF/phaVZfIJyO0CKdGsc9ExEg7pMh212+zFRG7eM6x"
    "laorJRGxM3WZc8vhW9xVo3/uee3OasYOrO4pIAFb33uJEAqQupS+JT8MbuRsITBB99Sv3I"
    "RsIUu91aHafZNdpthGjmLVgdoVKxHDYGpXVq2prEo/awkaFrC3N2F2nb8KxMbdRtL+Wm8Z"
    "KugvlqMxWSlGa9PZZ/jThGsoU3idcSE1FNqhIIh8W3EN03e3tFXCf39vJ9J1VeQhnAmcyM"
    "6rHgcYUZydO/rvA8urCVvaNQ4my2+s3s2/8BU1zF+Q=="
)
