from tortoise import BaseDBAsyncClient

RUN_IN_TRANSACTION = True


async def upgrade(db: BaseDBAsyncClient) -> str:
    return """
        ALTER TABLE "debits" DROP CONSTRAINT IF EXISTS "debits_idempotency_key_key";
        DROP INDEX IF EXISTS "uid_debits_idempot_4e0687";
        CREATE TABLE IF NOT EXISTS "idempotency_keys" (
    "id" BIGSERIAL NOT NULL PRIMARY KEY,
    "scope" VARCHAR(32) NOT NULL,
    "idempotency_key" VARCHAR(128) NOT NULL,
    "fingerprint" TEXT NOT NULL,
    "state" VARCHAR(16) NOT NULL,
    "token" UUID NOT NULL,
    "locked_until" TIMESTAMPTZ,
    "result" TEXT,
    "created_at" TIMESTAMPTZ NOT NULL,
    CONSTRAINT "uid_idempotency_scope_8785c7" UNIQUE ("scope", "idempotency_key")
);
CREATE INDEX IF NOT EXISTS "idx_idempotency_created_944834" ON "idempotency_keys" ("created_at");
COMMENT ON TABLE "idempotency_keys" IS 'A request''s hold on its Idempotency-Key, for the retention period.';
-- Issue 24: every key a debit already holds keeps holding it (for the retention period,
-- counted from the debit), as models.idempotency writes it: the fingerprint is
-- json.dumps([user_id, amount, reason]) compact, the result the debit's id.
INSERT INTO "idempotency_keys" ("scope", "idempotency_key", "fingerprint", "state", "token",
    "locked_until", "result", "created_at")
SELECT 'debit', "idempotency_key",
    '[' || "user_id" || ',' || "amount" || ',' || to_json("reason")::text || ']',
    'done', gen_random_uuid(), NULL, "id"::text, "created_at"
FROM "debits";"""


async def downgrade(db: BaseDBAsyncClient) -> str:
    return """
        DROP TABLE IF EXISTS "idempotency_keys";
        CREATE UNIQUE INDEX IF NOT EXISTS "uid_debits_idempot_4e0687" ON "debits" ("idempotency_key");"""


MODELS_STATE = (
    "eJztXWtz27YS/SsYfWk8o3pS23FyfTudkW0lVRs/xpbTTusODZGwxJoCVD5sa3rz3+8uSI"
    "pvhaQepmR8iSMAC5Jn8Ty7C/zbGguDWc5ux/jbc9wx427riPzb4nTM4D85uW3SopNJlIcJ"
    "Lh1YsjidlZPpdOC4NtWxyntqOQySDObotjlxTcFRoEPGlHvUIrqwbaZjMhH3hJIBtSjX2R"
    "F5GgkoYzBiuoRyA35P24SzZ5e4AtIcchc99A4faggdnmry4Qrqv+UWM4bMJrZ4Im8CcPyk"
    "3di37+ySCw41Gmw8ES7j+pQ8MKhWQGJUbBff1uPmPx7TXDFk7ojZ8M5//gXJJjfYM3PCn5"
    "MH7d5klpHQjWlgBTJdc6cTmXZz0zv9KEsiEgNNF5Y35lHpydQdCT4r7nmmsYsymDdknNnU"
    "ZUZMXdyzrEC5YZL/xpDg2h6bvaoRJRjsnnoWKr31473HfdDlk/Cfg5+CV4sV07Tzi7523e"
    "1rWivTRvAVUmoNknTBsX2Z2NoAmK9+vREgMrWFDzj5uXP1Zv9wR0IgHHdoy0wJV+urFKQu"
    "9UUl6BHKdCw8v9knkT42hz3u5mMdyaTwNv3UqkiHCRHUUXcKQQxhKg9s69occma0CXWgZR"
    "JofiRq3emelA85fAn8+f4/e3v7++/33u4ffnh38P79uw9vP0BZ+S3ZrPdz9HTc+9Q77+Oz"
    "BYwb/piCCaiiSCU2ow58QUYlfei1+QqJJFIKgY9pjkKW0dL73d8lfmPH+cfChPMvnSvZ/M"
    "86v8v2P54GOZ8vzj+FxSO4z08+XxynAIchXNhZvE9G1C7oAKHAVsDdGtNnzWJ86I7g5+HB"
    "HPhDsA8PdlKwBjl7MisJb2ye0GCeqAJ0jmgtyIOhu8LYvja8f9j7UAJwKFWIuMxLQq7DiA"
    "BgaDRnZD+FHNccs3zEk5IpsI1AdDf8zwa29nmDS++se93vnF0mRpjTTr+LOXuJ0SVMfXOY"
    "0susEvJbr/8zwZ/kj4vzbnpunpXr/9HCd6KeKzQunjRqxDEJk8OkhJo9h9la3jpp3uwdE2"
    "ry9F2+O73IJA0LXHtaGfu41HLAf9mRbG3Q4y7h/iF3BYvtOauFj8JmsP77lU2lJnrw3rgh"
    "ygE+2ObcBNVsWOv/GjaxMDVqAjZ9mm2r4r0evh2+mLny669gELrqnQDGCPGA6g9P1Da0BN"
    "aYI/ZELvqyRWfhh/1hX8A/JcH/LBfm3bCujeoEZTUQ7/tlVJBEHLPGe+N0CuV0KL8Y3w3f"
    "JAD0lA3MXKrDz2jPYzkMLFKS4Lh2qe0QyglUR5wJfCO5t8U4YiCQFdAZmcC2K8UXpAkG/7"
    "E7uxmSYwXPuOW3vA8bQuQ5OHsEQX1E+ZA5ZOBB7cKW1IiNOQ61/is3j/em7SCH4jxBcVfI"
    "NJtBA4RU07nlA8+0gjczXfIGyRasJNpzfueEL/w9vXeZvdMmjoCvsNnEolMyNB/h+UjTDK"
    "EVKfZEsScbMQEpjqRx25hVcCQN2MQ3TQVqH9/UDrBp+3h/oVFLzynRJSg6zZUpPS9Zz9TS"
    "6kxfGdGlMKEN1u4qpjHFmCnapgkqWAdtkyRpTObktPpA8OOvV8yi8iMKka7G0TRznMng/T"
    "XLbS2PhOk+Fvib+BnteSQMe6ziZRLwCgGLQcQTM0KKAh4hiQf9gXHD99FAoiSiJbKEy4L1"
    "Ibnym226sOInZtrwDrLwNdyh/s7/zV0Aif+9dyEnotvUGRGdci5cYgmH4YNkzRfo3oLdAm"
    "qawCvAOxNfmLBnqNWaYtG2fOyIUXjFEXVA5A6dXmCV5MJmBP/eSVbnFuofwcRKnqjpkgEb"
    "mZK2kW+BNTjwBHjxe0iGMiOKVA8xPEaeTOgjnktgOpavgIBYYuiU5G3+hOkaOg8WTr1XC0"
    "rGcmMDwIxATJaAdzOdkb8C/Ou180Gta6QHQeHs0dV+HLHnn9Kte530kEQuA3vxTjksv4Xb"
    "4/29Ervj/b3CzTFmJZdyjvBsvRK8kYQCuAzA0QiTxrfLvXFmgZbEOhReH9StYDqoOmRcds"
    "9Pe+efjsLp5Jafdj/3vnSvuqdHBCYnE3ZezLjlnePO+SnsDCGVDig3YJoxyo0uKabosAxR"
    "lN6nxniiw7SmgtkjZ4FXzELHRNa3qXm72h3N3g8H7w8+7B8ezDYys5R5+5csvZyekzO4zi"
    "dlcsQVMdNkYgYA9WrRbwlBxbI2WsnxhXJFNadEVWdusp4t6rgas+08n95igjUppbjV6tyq"
    "Mla9iu6lKHTldKqcTpX1QjmdKqfTpL3jk3mfa+6Q6e151o4hlCht7OjDRwxtOiYoRYRNLm"
    "02Nr0xcbzBrCgZCG84mnmKBgaDwK6RY/FYvNJbHjqbyq/ZKfZK9f1JhecOxHNgHvGNCE/C"
    "foDiaHRw5EOkxeMuZBKgQdv+MukOzRBPgY1FuprqYjzGn8YOGbB7GIeiL4KiOrUsZhwRCt"
    "UFtcGDKVo8huhYCxWglYQLAgsFaKgoE/jFSknfJxW/yJrC67kupuEL3vIhc9FBtx8ZdRzy"
    "5i5m44HWd9cmfrc58u1Fnq3D43z3W8QHAdspspz82UpW5hs5StpSXrs95IX9Yx/g++oyyK"
    "Fsk7n61qfex/6RbL+3/PKqe9a7OTsiE3/oaAY3DCv5Wiv2pFytdWPD9sMvs2YHHGGwc+vg"
    "H5NT+NfGP5gGNeykuVoo5oTyZBUzVJ0ZCgZEbSy4O6pipcoKblFHWJq1akKnGiz5NG8Cjd"
    "XIMdkeCwFLTF6AcVY6BfIAxFc1585S1tvMjy8uPiea+XEv3Y5vzo67MNfKNg+FTLdggMFV"
    "OcBZOQ4oKadYsQVG+Occ6OeN6s95kKuRvMRI/np9Qq6757DSh605rPQ/dnqf0Q3knppWU3"
    "xAmhigpY5ZURavLbB4KW+g16XvLN9aVeX5NSitb4DWlRPlsralKdq+ygo9I6nW6tXX6rg6"
    "9WxWI9g0K6nwr4G/8jd8FROHcohSXjlNUIGKKW4G3iuNKe5FXA006FaOt02qRHue302K+S"
    "ntghOce/adQ0bCMvB4bTzqLPbk73/FA+HxIDX/mDRIlJ4ME2abwsgLOV60SvSUObEozIZG"
    "6AGD5dClpo3eMRNs5kYYkIzJyVDkNpnYHkdXFzybzY8NTj9kdpxcDLc5fiuOLvx4zjTBlv"
    "ZgqeSlMm9WKTuhBD2pudzdGg0Jxd4rM/2VDjANBZrss1KTQF1+fGkTGetGQb4Szhq2FjDl"
    "Tmwzz145Z0uYFNsKtBtkPCs0Ea/bYLa+xr0CT7cHlkNzFHt1zgSW6djZ3Db9TT/OWAid0B"
    "+YoXmw+LGqchdpWUVeNJm88P29q8wEkYQiBbc9SPIFQlo2tldleKkqsU3LIwh+EYNruWzI"
    "oQZmee15pMDfYqDNVh5l2AB8ioFBLA6ToSS6ZzuwTcetOn7T0BYepEK1DnFgrYMbdIwieY"
    "TGacGuW+jMcZiTRwosseYFzlKXfyss28LyW+dEs6w9YPGWG7mfPA63eDqKJNR0VH06kl2r"
    "5jovKaqWeU2bkBLLDjlwZlX8y/XFecFyYyaR1qypu+R/xDKdldmpYqFv8lYNkzu7+NiXiH"
    "5DhOZ3u3QPS6kPK8gcQzwxaq4Ck5Jb6DiIFzUYF9yaBgPC5vbCmS2oAavCuKEtZ2GYssMV"
    "rw39g1y1mPHvmwvEYs3nB/uGMVcTOsVrhDEKzh6ywGApg0L/wvNP5VU+mdRYoJafmIkVjl"
    "k/YzsqKRzLCsOMlVWmcVaZ7b1zJ7ix+IhAwzTQ+gk7GgJjkOmaj5kzC15eRa8ozLt/cXlz"
    "CZ1NTLzJLb/qfrw5Pz0iNoNlioHHhX7RTq66p70+nhf6qPnqu+Wd019urvtnMnAkuhcdyx"
    "/7RQdm+Eu76n7pXl13PgfJWnjfwy2fF2Lu52p+bIoc+/wAFZkaVSlzwhpLNqRVk/Vzh/nK"
    "Abq5tagNYY27sLkYU6uSMTYmsg2Ir9rszUU1I2BYfvuw3Xv3rgS4UKoQXZmXDcd1tOBMHk"
    "0681RbKxRU0OSFQyNXcJtq81C73W/vdoNhZS7lFN+glbXIx2UWMMo3bNRbjk2+8PySYjiL"
    "jy159WgK2yjw2i+GMy6j8FQXq6kgiOapYHlBEJnRYgmg9sXkZnIRVraR48Q3kY2PkiWgNc"
    "IL6ReEdnax/XaiGl8ZlUB1GBy5uiCo4cmt24lpbHm0hOOJ5xhrYvTKjAbMmSkD4fAY42+H"
    "T3UStW2HkhLNmD0uCanZjYtbAlJF89+5cE2dtXIsf0FOe57Rj8sypYPDxsxxaOzWSP+g5P"
    "bsvGK8OlEGYY0FZ9Pwjkl5HLFOoShewJjnDLaUejFMrA9lBsINzlk2XQKth9kEylEyoXrs"
    "6GSq62ziOsGllI4lnvBoaAyPl2dCYQVnwVv5xyUDdnTqYCGPG4I58ipLtAa0pf9aeLGlzJ"
    "pdbRl8bm1zqIoma8qyvD3HbllsJMtHfxMMY82J/VDmpCoTyvrMSRtirF/xmTprJtxj1xyU"
    "hz0mpHCvh7s6Quo13MOp4mZW5qaM3is19BwTW4sbulJvTS90ZQh+hYZgZRpSpqEmqGBR09"
    "BJ5/qkc9pdGitckcOL2Y5yeLykZamYy5MurJq00azAfX+etz2GlHpOxtM+7oRfibnawtu6"
    "Wh3LEZLCNPmjMPH2ODq1BC15xPwilvzq/vaN2r+vfuRe2p4m6AcZPMvfoeDl7RZXyAsu7x"
    "KFy07vFH5S0wi96LszP3oGad3fL3tXmMSeJ6aNKY28asHvnJpn5wTNFrOLKTFFJ6rTM9aj"
    "iQbtF0ptE/3O79TQclJyC7eJ26RmfcT0B+HVIXxSoursgSbrGaf7GjqOiSn9Nlm/4fKtho"
    "5TokrPTdazsrE3c1Gs+FXFrzZBBctzvS8mWNX9Ay98/4Bsmzn8c9hmi5lnVPvqKee1Oz8u"
    "hz6u3kxaMydVBJaYZbmxRvhC4ivnn6pYvHCIy6hlQp3rqGzH1aqinpRSuNc4YpHyoQeDKY"
    "Cadzd7MfQZQYV+rTP3o9Mcqs0AGdGt8c9T5z80pTtss9uPOuNyy7SewxJVPeMyLxJywT1c"
    "pSDIprWEUlGQMvZ3QZTKhkdvJEAyTHRBgMpGiG4kQBjpvCA+JUPBNxIe/1TbdVJJGwlTLA"
    "64Pk5RwPE2QhQ5VtZHqNIhIRuD0ipJyQ6zTX3UyqElg5z2PGKSRmUaw0y+lpjsBb0qixlG"
    "POvWzLv1vjjgOiayhTHXKzlsEztVBYSD4luI7g9v35bxMn37ttjNFPNSvIngbu75J3Nu7Y"
    "hE1n9tx8vQhku7oKPCNnb5k9nX/wPXqjZY"
)
