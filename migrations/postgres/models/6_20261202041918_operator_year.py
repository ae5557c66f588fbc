from tortoise import BaseDBAsyncClient

RUN_IN_TRANSACTION = True


async def upgrade(db: BaseDBAsyncClient) -> str:
    return """
        CREATE TABLE IF NOT EXISTS "adjustments" (
    "id" UUID NOT NULL PRIMARY KEY,
    "amount" BIGINT NOT NULL,
    "reason" TEXT NOT NULL,
    "actor" VARCHAR(64) NOT NULL,
    "idempotency_key" VARCHAR(128) UNIQUE,
    "created_at" TIMESTAMPTZ NOT NULL,
    "user_id" BIGINT NOT NULL REFERENCES "users" ("id") ON DELETE RESTRICT,
    "entry_id" BIGINT NOT NULL UNIQUE REFERENCES "ledger_entries" ("id") ON DELETE RESTRICT
);
COMMENT ON COLUMN "adjustments"."amount" IS 'Signed, as on the ledger row';
COMMENT ON TABLE "adjustments" IS 'A manual correction of a balance: who made it and why, next to its `adjustment`';
        CREATE INDEX IF NOT EXISTS "idx_events_state_c7bac0" ON "events" ("state", "finished_at");
        CREATE INDEX IF NOT EXISTS "idx_notices_sent_at_fba75f" ON "notices" ("sent_at");"""


async def downgrade(db: BaseDBAsyncClient) -> str:
    return """
        DROP INDEX IF EXISTS "idx_notices_sent_at_fba75f";
        DROP INDEX IF EXISTS "idx_events_state_c7bac0";
        DROP TABLE IF EXISTS "adjustments";"""


MODELS_STATE = (
    "eJztXW1z2rgW/isavtx2hs2kJE27uTs7QwPt0k1JJiHdzjY7jrAV0MZIrGUnYfb2v98j2c"
    "bv1CZADNWXECQdWX6O3s6jc8S/jQm3iC322tbfnnAnhLmNY/Rvg+EJgX9ycpuogafTKE8m"
    "uHhoq+J4Xk6l46FwHWzKKm+xLQgkWUSYDp26lDMp0EYTzDxsI5M7DjFlMuK3CKMhtjEzyT"
    "F6GHMoYxFEXYSZBd9nTcTIo4tcDmkC3UQPvZEPtbgJT6VstIb6r5lNrBFxkMMf0IsAHD9p"
    "L/buL/fQGYMaLTKZcpcwc4buCFTLITEqtidb6zH6j0cMl4+IOyYOtPnrX5BMmUUeiQi/Tu"
    "+MW0psK6EbaskKVLrhzqYq7eqq13mvSkokhobJbW/CotLTmTvmbF7c86i1J2Vk3ogw4mCX"
    "WDF1Mc+2A+WGSX6LIcF1PDJvqhUlWOQWe7ZUeuOXW4/5oKsnyT+HvwZNixUzjP7ZwLjsDg"
    "yjkekjsgkptQZJJmeyf1HZ2wCYb369ESAqtSEfcPJb++LFwdFLBQEX7shRmQquxjcliF3s"
    "iyrQI5TxhHt+t08i/Y6OeszNxzqSSeFN/dSqSIcJEdTRcApBDGEqD2zjko4YsZoIC+iZCL"
    "ofinp3eiTlQw5vAh8//dxqHRy8ae0fHL19ffjmzeu3+2+hrHqXbNabBXp61/vQ6w/ksznM"
    "G/6cIhOkiiKVOAQLeIOMSgYwavMVEkmkFAIvUx+FrKKnD7pfFH4TIf6xZUL/c/tCdf9P7S"
    "+q/09mQc7pWf9DWDyCu39yevYuBThM4dzJ4n0yxk7BAAgFdgLuxgQ/GjZhI3cMX48OF8Af"
    "gn10+DIFa5DTUllJeGPrhAHrRBWgc0SXgjyYuivM7RvD+1XrbQnAoVQh4iovCbkJMwKAYe"
    "Ccmb0DOS6dkHzEk5IpsK1AdC/8Zwt7+6LJpfepezlofzpPzDCd9qArc1qJ2SVMfXGU0su8"
    "EvRHb/Abkl/Rn2f9bnptnpcb/NmQbcKeyw3GHwxsxTEJk8OkhJo9QRwjb5+0aPWOCdV5+S"
    "4/nJ5lkYYNrjOrjH1cajXgP+9MtjHopZVwe5e7g5X9OauF99whsP/7ncyUJnrQbmkQ5QAf"
    "mDlXQTVb1vu/hV0sTI26gIMf5mZVfNTDu8MbE1e9/QVMQhe9E8BYQjzE5t0DdiwjgbXM4S"
    "2ei77q0Vn4wT4ccPhTEvxTtTHvhnVt1SAoq4H42C+jgiTiMmvSmqRTMMMj9caybbIlAaAd"
    "MqS5VIef0VzEcliySEmC49LFjkCYIagOiSm8I7p1+CRiICQrYBI0BbMrxRekCQb/sS/3Mi"
    "THGp5xza7ZAAxCyXMwcg+C5hizERFo6EHt3FHUiCNzBLb/q4zHW+oIyaGIByjucpXmEOiA"
    "kErFNRt61A5aRl30QpItspLI5vyPCBv8E751ifOyiQSHt3DI1MYzNKL38HxJ04ygF2n2RL"
    "MnW7EAaY6kdmbMOjiSGhjx9Vr2tRVf1+6/bVa8v81YSs8p0RUoOs2UaT2vWM/YNpZZvDKi"
    "K+FBa6zddSximi/TpE0dVLAJ0iZJ0VAicnp9IPj+9wtiY/UShUhXY2jqOc9k8P6WZbZWR8"
    "F07wu8TfyM5iIKhtxX8TEJWIWAw0D8gVghQQGPULSDeUeY5XtoSJokIiWydMsT65PUyh8O"
    "dWG/j2j62B1k4W2YwL7d/+ImgMR/35uQETEdLMbIxIxxF9lcEPkgVfOZdG6RwwJqmkIToM"
    "3IF0bkEWq1Z7JoUz12TDA0cYwFiNxIlxfYJblgisjPG8XpXEP9Y1hY0QOmLhqSMVWkjWqF"
    "rEHAE6Dht5AMZcZYEj3I8gh6oDBGPBfBcqyaIAGx+UiUZG2+wnINg0cWTrWrASVjubEJYE"
    "4fJktA26gY+zvAv350NqhxKclBUDi5d41fxuTx13Tv3iQ5pJDLwF5sJ4fld4KfSJrHB60S"
    "1vFBq9A4llnJrZzgnmNWgjeS0ACXATiaYdL4dpk3yWzQkliHwpuDuhEsB1WnjPNuv9Prfz"
    "gOl5Nr1ume9j53L7qdYwSLEwXLi1jXrP2u3e+AZQipeIiZBcuMVW52STFFR2WIorSdGuOJ"
    "jtKaClaPnA1eMQcdE9mcUbO/Xoum9erwzeHbg6PDuSEzT1lkv2TJ5fSanMF1MSmTI66JmT"
    "oTMwCotxT9lhDULGutlRzfKFdUc0pUD+Y669nGwjWI4+R59BYTrEkpza1W51b1YdUPMbw0"
    "ha5dTrXLqT690C6n2uU0ed7xkQ8vFe2Tc+Qxz2suOvX4mw+NOXNU5uBDPsVCNsGCqOBW03"
    "MEd5T/pnynkcM9SIVqBRJj7EDZ4QwJeZaObTR1uEmEICLvCGSFNT/BiVN9Zjp6McUZlt85"
    "96pV0ZvFZP2Y21bepF5sMkQS2lyobi6ooWV4zKV2VXshJarN8TrbC/7EmVXxx8uzfoE5OJ"
    "dIa5aaLvofsqlYm80QO4VU7vyUiT352OdwS5cILR526RGWUp+sIOMBNbWWtNKTkjtopUsP"
    "ceuM2bNgQtjeUTh3bclsqctutle3K4xvs3M2hqldePHe0PchMWK+TN/dIBZrPmdL9rXhwu"
    "545OCJMcUzeX+JYcI+a0SC7fMd9Erf9ULFECVSM94dMcsnRm4p6VgWtSp6bCwy88sa+MFS"
    "V9993waplR8xrie4FeUYQce0ZHwaGC8Iphvq0nuSNoSeX0WRStRQyyiknDtCKFtnx4/G4O"
    "z86hwGG59602t20X1/1e8cI4fAjsSSTgmfjZOLbqc3kF4J94avvmvW7ny8uhx86vYhPbp7"
    "SZZ/5xcd0vCbcdH93L24bJ8GyUboVV5S7Wt2Y1g8/5a1yhbXoi21JW7HYXyC7UoRXzGRXU"
    "B83a5WjBd5WhXQPPwJzlW1xrb1+nUJcKFUIboqL+PJ5ggjcGo2VOh1tZW9oII6L/O13G/p"
    "w+LdNUODaWUhFxS3nMr6osdlnuCRXrNZ7ykO5xGe3LEKDuOL8YzLaDx1eKA+YK+fClZ3wJ"
    "6ZLVYA6oBPr6ZnYWVbOU98F9n4LFkCWiu8VOmJ0M4vZ9pNVONr+Qo8QhaQ1DHrNXG1d378"
    "a+g58v0o2ORF4buhpaSP2f2KkJoHue4ISBWPPfrcpSZp5Jx4BDnNRYcdTJUpf8c8EQLHAn"
    "X9CNkmegjCcGW0qopnnXBGZmFYryvjWU0MRWXMa54TzErqDa9aG3JXxdOqK86g9xAHQTmM"
    "ptgkaBCwdgibJpm6IogDFjZ/QNLtBlNbhWbJCj4FrfLvbQPs8EzIQh6zOBEqelhSo03ltx"
    "PGEquseTQxLbycvtwxUFn/HX2I85yHOMUnBvnob8MpwZK8mmbra2iZroet35KTyzXHgm6Y"
    "zwy44Wqwx4Q07svhrkOff4TQ5xKIP4P3fd0Z+VLumUIuutX1HBPbiPutVu+S3rf6nO0HPG"
    "fT5xj6HKMOKnjqOcZJ+/Kk3emujBWuyOHFDjpyeLzkMUgxl6f8+Qx1oLAGt+VFrscylM4T"
    "GbfjuEdyJeZqFy+Ma9vBVX+U3XMqf0QCz2yOS97s9JRj5+rOx7Wy39c/c6/MpgnGQQbP8l"
    "eZeXnW4lbcZXbe7nXgK6ZW6FLcnTsVy1vNul/Oe+qmM/I4peqes/ft3qlMkJx7XW44Cwan"
    "4Tk5wYLF7GJKTNOJu36rizYTlzMT/cEvltByUnIHzcRdUrM5JuYd95YhfFKiOua6znqWy/"
    "0SOo6Jaf3WWb/h9m2pH4xJiGo911nP+oy9nptiza9qfrUOKlidn3gxwap/RuaZf0ZG9c0c"
    "/jnss8XMs1T7+innjTs/roY+rt5NGnMnVQksomW5sVr4Qsom598mV7xxiMvobUL1bYL6wW"
    "ijKupJKY37ElfLYTbyYDIFUK1K0GcENfrV0U8Ey1dbATKiO+Ofp8Pr6zIcdtntR9/tt2Na"
    "z2GJqt7tlxcJ+UQbrlIQZN16QqkoSBWo+kSUysbybiVA0e+TLg9Q2QjRrQTIv65yk1zJVs"
    "IUC3RdHqcoonYXIYo8B5dHqNKVDVuD0jpZtzZxqDlu5PBuQU5zEfOGozK1od5+lKDjJ7oN"
    "FlNo8q7MYJSVjSiOiexgUPFaLuuTg6oCwkHxHUT31f5+GTfK/f1iP0qZlyIGOHNzL/hYcB"
    "1/JLL5+/ifhxdb2c37Fey01S9m3/4PRlBNNQ=="
)
