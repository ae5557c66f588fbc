from tortoise import BaseDBAsyncClient

RUN_IN_TRANSACTION = True


async def upgrade(db: BaseDBAsyncClient) -> str:
    return """
        DROP INDEX IF EXISTS "uid_debits_idempot_4e0687";
        CREATE TABLE IF NOT EXISTS "idempotency_keys" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "scope" VARCHAR(32) NOT NULL,
    "idempotency_key" VARCHAR(128) NOT NULL,
    "fingerprint" TEXT NOT NULL,
    "state" VARCHAR(16) NOT NULL,
    "token" CHAR(36) NOT NULL,
    "locked_until" TIMESTAMP,
    "result" TEXT,
    "created_at" TIMESTAMP NOT NULL,
    CONSTRAINT "uid_idempotency_scope_8785c7" UNIQUE ("scope", "idempotency_key")
) /* A request's hold on its Idempotency-Key, for the retention period. */;
CREATE INDEX IF NOT EXISTS "idx_idempotency_created_944834" ON "idempotency_keys" ("created_at");
-- Issue 24: every key a debit already holds keeps holding it (for the retention period,
-- counted from the debit), as models.idempotency writes it: the fingerprint is
-- json.dumps([user_id, amount, reason]) compact, the result the debit's id.
INSERT INTO "idempotency_keys" ("scope", "idempotency_key", "fingerprint", "state", "token",
    "locked_until", "result", "created_at")
SELECT 'debit', "idempotency_key",
    '[' || "user_id" || ',' || "amount" || ',' || json_quote("reason") || ']',
    'done', lower(hex(randomblob(16))), NULL, "id", "created_at"
FROM "debits";"""


async def downgrade(db: BaseDBAsyncClient) -> str:
    return """
        DROP TABLE IF EXISTS "idempotency_keys";
        CREATE UNIQUE INDEX "uid_debits_idempot_4e0687" ON "debits" ("idempotency_key");"""


MODELS_STATE = (
    "eJztXWtv2zYX/iuEv6wF3CB12rRvNwxwY7dzlzpB4nTFmkKlJdrmIpOaKCUx+va/75CSLF"
    "m3SL5FdvUliUkekn4Ob+c55Mn3xpQbxBQHHTKkTuMN+t5geErgj8WMJmpgywqTZYKDh6Yq"
    "acgiKgkPhWNjXVY0wqYgTZkpdJtaDuVMlr10sC0QZgiqQ8IizEEjm08RRkNsYqaDCIefyC"
    "I2ogaZWtwhTJ+hGzJDT/wumcQYE/vAa/bpgWzY4Dq0TNl4Q21cs2s2mBBk8zvEyC0I6hPM"
    "xkSgoQu1c6jIEciWOQKbvyIHyo6oLRzohriD4g5XaTb51yWQSsU1G7rU9HtGHfQEM0NV4r"
    "UsW/pFBB1+hkcOsZ82keDwLWximXiGxvQW2gdRPMaUKRhcRqF+zeFjAq3ZAMaXr5BMmUHu"
    "iQg+WjfaiBLTWFA3NWQFKl1zZpZKu7rqdd6pkhLioaZz052ysLQ1cyaczYu7LjUOpIzMGx"
    "NGbOwQIzIWmGua/qAJkrweQ4Jju2TeVSNMMMgIu6YcUY3fRi7T5UBCqiX548XvftcixTSt"
    "fzbQLrsDTWskBqDsQmy8+Ek6Z3LwUuZIoL7/8OoNAVGpDdnAyR/tiydHx08VBFw4Y1tlKr"
    "gaP5QgdrAnqkAPUcZT7jInifRbOu4xJx3rUCaGN/VSyyIdJIRQh3M1ADGAaQPAQn/h17P/"
    "tVpHR69ah0fHr1++ePXq5evD11BW9TiZ9SpHG29773v9gewQh6XHW5FkglRECLxNsIB+Jo"
    "AfkPsM2EOJGOzwZXYQ9hwEB93PCr+pEP+aMqH/qX2hBvnH9mc1yqczP+f0rP8+KB7C3T85"
    "PXsbAzyysGqwsCaRP5lgO2txSYjuhQoaU3yvmYSNnQl8fN56naOTQANQ6mkMbD+r5eUtoq"
    "7DqAU8NJyyxnQgx6FTkg76omQMb8MXPQj+2EH08yZA72P3ctD+eL4wCzrtQVfmtBZmQJD6"
    "5Diml3kl6K/e4A8kP6K/z/rd+C4xLzf4uyH7hF2Ha4zfadiIYhIkB0mx1UweNJbSc0x0DY"
    "r2N+paz5vSMza1ZbavhOhSi+gOaXcT25griK2lnY3zTmwRofrIVurIJs2T0U3q0VmCmlTD"
    "O24TOmZ/kplSRQ/6LQ2mFOh9w+7Kr2bHVPAjGGNBajg1bXw3t+eiQw++O3xj4qhvfwFr0U"
    "XvBDCWEA+xfnOHbUPLwBpMZpsSkTLqfcF3f14QE6svkYn0qTJku1DVbGfXmQTeCj7e4hHY"
    "FgBNZk1b03gKZnisvpJsW7bkI9a9JSyVhPEymnkkDJFFCpIw7YBX8FkMxO+IEVAU0IQiHv"
    "QbwgzJlHhESUhLJAmXFeuT5MpfNnXgxI8oU0ILJAh8GyawZ/k/+eZD4n3fbwEnottYTJCO"
    "GeMOMrkgsiFV89kIsuW0gJos6AL0GXnCiNxDreZMFm2qZicEQxcnWIDINwZ7K5ySHDBG5O"
    "9vitW5hvonsLGiO0wdNCQTqmgb1QtZg4AWoOMjSIYyEyypHmS4BN1RmCOug2A7Vl2QgJh8"
    "LAryNl9gu4bJIwvH+tWAkpHcyAIgZ/FM/v31Z2d9GpeSBAS1kltH+21C7n+Pj+FtkkAKuQ"
    "Ts2fZwUH4PjeCjVgEb+KiVaQLLrMUDm+CurZeCN5SoAS4CcLDSJPHtMneaOIYtYh0Ibw/q"
    "hr/ol10yzrv9Tq///k2waVyzTve096l70e28QbAFUbCviHHN2m/b/Q7Yf5CKh5gZsJkYxV"
    "aXGB90XIQOilujETboOK4pf49IOcZlc80Rke2ZLoebtVtaz1+8evH66PjF3FyZp+RZKUkS"
    "Ob7zJnDNp15SxGv6pcr0CwDqLkWyLQjWXGqllQxHdSomS6k5JlpP5irr2cTC0Yht8xQWKZ"
    "tGXZSqGdTyDGrtkvoppldNlD/a3YY5z1MK+6jUesB/mMzZC+hrH8Uj+iiS9HtsHiThP2Nk"
    "wOFHQfDLuS2qNQmKaiA694uoYCWvRi+8zgNToJHi3oiVaOb5OWKXgwp7PPybl78INOGmgT"
    "hTly0jLT+DppvqKqd3URMSFetsEZtyI83psWqV0jtxYmI4uxhoSKAYUeXuuH3TRDqfWlIr"
    "RuASkcmLzpAmsmyXQQl1O9TzTsQbmV9ojeD2NMvn8KUhdO5xzfE7WF9XuUeatw0V3YD8YV"
    "zZqbfNrT/btTDXX2HyOxCoue8C3Hd9qfExLjWOoH1iWzZNuzmdbbrHxPYC7W0b7znOnoz1"
    "ZPsOnu0N7rV7aBx+Q1Ju9WV74OcC63TCV3dMP+hkj9B7XL8hhubC4ccsSzTFZWsit8pME1"
    "QlsSmxE4QSNYG77wTuI5jbOzurEkxWGd5lfQTBBz68VMeGFGpgntfMIwX+4UNtfvIowgbI"
    "VgxkEiwIkg8vddcWYKZLU11+p7HNXUiFagUScNaRBvoMCXmlHptgdXOdCEFEGimwxppXeM"
    "2pfpc4tgXl13Nqe1xDfCM2YLbJLbmfNNY3ezsKJertqPx2pKbWkue8RdH6mFe1DWnh2KEW"
    "zqSKP1ye9TOOG3OJuGap7qD/I5OKjTkVI9eU1bt+ysSBbPYx3qdLhPKnXXyGxdQnK0g8hL"
    "KMJU+Bi5J76MaXT8WNM2bO/AVhd2fh/IVLBU6FUT9cysEw5qbLPht6T0m0yJOmBw+I2ZpP"
    "dZo4xCRjG081C8+m0I6mwzlrTHz/2g2MSu+NhgomspCaeOQRcY1GjCclHckq/aSjdsBsyw"
    "GzvwE+Gpd0zIjxBsHANKSjE4wXBMsNdegtiRtCj6+iUCVqqiUUUuy9QiBbZTa7MTg7vzqH"
    "ycYt17pmF913V/3OG2QTOJEY8tXCJ+3kotvpDeSzhVvNU981a3c+XF0OPnb7kI6Nf1zhyL"
    "VLln/rFR3S4JN20f3Uvbhsn/rJWvC4vKDaN82i566/Ra2y/FpqS628pYYZn2KzlJc0IrIP"
    "iG/aH814Oe9cUH7/sG29fFkAXCiVia7KS3g/baH5b5s1dcum3M6eUUGVt/lKnrd21RlRm6"
    "EPm6H+spLLBUUtp6Ku8qjMCt7yiq1663GWc9vIuK2fjWdUpsazjhJU38CvngrWdwM/sVqs"
    "AdQBt66ss6CynVwnHkQ2ukoWgNYIoiuvCO08SvN+ohrdy9fwZCSHpI68JgliLsVWdF8ueF"
    "XycBysefCm/dDNj5I8fp87VCeNFArfz2nmsfdMlSn8ymNKhMCRAFRe5KcmuvPDS8koTOo1"
    "xZQzMgvCVTkyTpOOoaiM5ZR2q2Mt9QZBxIfcUXGiVPBuGD3ERlAOIwvrBA18GgphXSeWI/"
    "z4VsLkd0jeI8HUVMFIZAUf/V55EckBOzwTspDLDE6Eioolub6muogSxMhSWfMoWf7XXdqv"
    "UT8LqcqhqJnjlcimwNPR3wXauzqXuGv6ucyGsj36eUdccRuOfrRlgs4nO8vBHhGqcV8O9z"
    "rY188Q7Ku+AL+x+4ZCbrrl9RwRq++TVlm/tecoe+ncX89RzczXzHwVVLAqM3/Svjxpd7pr"
    "4zlLkngR6j6FyFsk9rPJPHVDTVMU+QYu4uZdppWPw1yRuEgbvWNbirraxxjpbdOPYU/ZLa"
    "fy/yPimclxwWDGqzhSy1+nrZQBv/mVe21GjT8PEngWj97tppmLGyQG1xe++7zd68BHTI3g"
    "kmx3fk1WBvLufj7vqeDe5N6iKrT3u3bvVCZI0r0qQb39yam5dsrzt2x6MSZW84n1O/jtaK"
    "JC9kIhM9Gb/GIJLS9K7qGZuE9q1idEv+HuMoxPTLRmfaqsZ7ndL6HjiFit3yrrNzi+LfWf"
    "UBdEaz1XWc+1k72ah+KaX6351SqoYH03n7MJ1vr/oz7y/0dVYzOFfw7GbDbzLNW+ecp567"
    "cf10Mflx8mjfktVQksokW5sUpchpRdTo+Pln1wiMrUx4Tyx4QRtYWjlUV9UarGfYlgaZiN"
    "XVhMAVSjFPQJwRr9paJnh8+/y+0ACdG9uaBXPxivynTY52s/dbS6PdN6CktUNlpd7Nnliu"
    "Zb0SeXVdN/puW24AWTbxZXBKjou8edBMiLKrhNAmAnYYo831wep/Cd6D5CFF6HWx6hUi/r"
    "dwalTVJJbWJTfdJIIZP8nGYenYTDMpXhk36Wp7Qr3oXL5oVkSEN/lhV9JxsR2cOnshuJqS"
    "YnVQmE/eJ7iO7zw8MidwMPD7MvB8q8mLXLmZMatiInanoosv2w6Y9D9qwtQHoJ42P9m9mP"
    "/wCiuTtD"
)
