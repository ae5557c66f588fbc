"""The events outbox (models.events): one row per ledger row written while events are
on, delivered to the app's backend by the bot worker (bot/events.py). Ledger rows from
before this migration get none: events start when they are first turned on."""

from tortoise import BaseDBAsyncClient

RUN_IN_TRANSACTION = True


async def upgrade(db: BaseDBAsyncClient) -> str:
    return """
        CREATE TABLE IF NOT EXISTS "events" (
    "id" CHAR(36) NOT NULL PRIMARY KEY /* Sent as evt_<hex> */,
    "type" VARCHAR(32) NOT NULL,
    "source" VARCHAR(32) NOT NULL,
    "state" VARCHAR(16) NOT NULL /* PENDING: pending\nDELIVERED: delivered\nABANDONED: abandoned */,
    "attempts" INT NOT NULL,
    "next_attempt_at" TIMESTAMP,
    "queued_at" TIMESTAMP NOT NULL,
    "finished_at" TIMESTAMP,
    "last_error" TEXT,
    "created_at" TIMESTAMP NOT NULL,
    "user_id" BIGINT NOT NULL REFERENCES "users" ("id") ON DELETE RESTRICT,
    "entry_id" BIGINT NOT NULL UNIQUE REFERENCES "ledger_entries" ("id") ON DELETE RESTRICT
) /* A balance change owed to the app's backend, one per ledger row. */;
CREATE INDEX IF NOT EXISTS "idx_events_state_558183" ON "events" ("state", "next_attempt_at");
CREATE INDEX IF NOT EXISTS "idx_events_state_abadfa" ON "events" ("state", "user_id", "entry_id");"""


async def downgrade(db: BaseDBAsyncClient) -> str:
    return """
        DROP TABLE IF EXISTS "events";"""


MODELS_STATE = (
    "eJztXWtv2zYX/iuEv6wFsiJ12qTLhgFu7HbuUidInK5YM6i0xNhcZFITqThG3/z395CWrL"
    "sr+ZLIrr7EMclDUc/h7Tw8h/7WGHOL2OJFmwyobByjbw2GxwT+iWfsoQZ2nDBZJUg8sHVJ"
    "SxXRSXggpItNVdENtgXZU5nCdKkjKWeq7KXErkCYIagOCYcwiW5cPkYYDbCNmQkiHP4ih7"
    "iIWmTscEmYOUW3ZIqeCULQV79dE2zbRH59/kI91+ImPJiy4WYecc2uWX9EkMsniJE7kDNH"
    "mA2JQAMPKudQjxTIVTkC278iCWVvqCsktEJMoLjkOs0l/3kEUqm4ZgOP2n7DqETPMLN0JT"
    "axhiAAT/pJBO39Gd9I4j7fQ4LDS7jEsfEUDekdPB9E8RBTplHwGIX6DcmHBJ7mAhZf/oFk"
    "yixyT0Tw1bk1biixrZiyqaUq0OmGnDo67eqq236nSyqEB4bJbW/MwtLOVI44mxf3PGq9UD"
    "Iqb0gYcbEkVqQnMM+2/S4TJM1aDAnS9ci8qVaYYJEb7NmqPzV+u/GYqboR0k9Sf1797jct"
    "Uswwemd947LTN4xGqvupJiS6i59kcqa6LmVSAfXtYVZvCIhObagHnPzRunh2cPhcQ8CFHL"
    "o6U8PVeNCCWOKZqAY9RBmPucdkGum3dNhlMhvrUCaBN52llkU6SAihDkdqAGIA0waAhfbC"
    "x8+/NJsHB0fN/YPDN69fHR29frP/BsrqFqezjhZo4233fbfXVw3iMPHM5iOVoBQRAu8SLK"
    "CdKeD75D4H9lAiATu8zBbCvgDBfuezxm8sxH+2Suh9al3oTv6x9Vn38vHUzzk9670Piodw"
    "905Oz94mAI/MqwbMq2nkT0bYzZtcUqLrUcH355hN9vsxvjdswoZyBF9fNt8s0EiAP5R6no"
    "Daz2rO8uKYm9BnAQ0DZ8wwbciRdEyyIY9LJtC2fNEXwT871v27HzuX/dbH89gYaLf6HZXT"
    "jPX/IPXZYUIv80rQX93+H0h9RX+f9TrJNWJerv93Q7UJe5IbjE8MbEUxCZKDpMRcprYZS+"
    "k5IboGRftDqNbzpvSMbWOZxSslutQUukXa3cQi5gniGlk740X7tYhQvWErtWFTxsnNbebG"
    "WYGaVsM77hI6ZH+SqVZFF9qtzKUM6H2D7sqvZstU8BD0sSA1HJounsytuWjXg3eHNyZSv/"
    "0FzEUX3RPAWEE8wObtBLuWkYM12MsuJSKj1/uC7/68IDbWL5GL9Kk2YztQ1XRr55kU3ho+"
    "3uQR2GKAprPGzXEyBTM81K+knq2e5CPWuSMsk4CZZewtImCIKlKQgGkFrILPYSA+IVZAUM"
    "AjNO1g3hJmKZpkxpKEpESabVmxPkWt/OVSCft9RJkWilEg8DZM4Jnd/ywgZmbv+zVgREwX"
    "ixEyMWNcIpsLoh6kaz67gWw1LKAmB5oAbUYzYUTuoVZ7qoru6ceOCIYmjrAAka8M1lbYJU"
    "kwRdTnV83pXEP9I1hY0QRTiQZkRDVpo1uhahDwBGj4DSRDmRFWRA+yPIImFMaIJxEsx7oJ"
    "ChCbD0VB1uYLLNcweFThRLsaUDKSG5kA1Cieqv//+dE5n8alYgBBreROGr+NyP3vyT78mB"
    "SQRi4Fe741HJTfCRYibgQfNAvYwAfNXBNYZcU3bIJ7rlkK3lCiBrgIwMFMk8a3w7xxahsW"
    "xzoQfjyoG/6kX3bKOO/02t3e++Ng0bhm7c5p91PnotM+RrAEUbCviHXNWm9bvTbYf5CKB5"
    "hZsJhYxWaXBB90WIQOSlqjETboMKkpf43I2MblM80RkcczXfY3a7c0X746evXm4PDV3FyZ"
    "pyyyUtIUcnLlTeG6mHrJEK/plyrTLwCotxTJFhOsudRKKxm26lSMllJzQrQezFXWs42FNI"
    "jr8gwWKZ9GjUvVDGp5BrU+kvohhldNlD+ZZ8Oc5ymFfVRqPeA/7eF6fUbx1L3/Mc4o0vR7"
    "Yhyk4T9jpM/hT0Hwyx1bVGsQFNVAdOwXUcFKpxof+OBS0z4ZBxvzvL1FZxv/8oExZ46KHG"
    "+op1jIJlgQpLwqTc8V3NVemuqdhi73IBWqFUiMsAtlB1Mk1Ik5tpHjcpMIQUTWQccaa17B"
    "VVN/pjp6PsUZlN85J6p10Zv5ZP2I21bWpJ5vMoQStblQ3lzQQ8vwmKR2WXshIVqb41W2F2"
    "YTZ1rFHy7Pejnm4FwiqVlqSvQ/ZFOxMZshcgqpnfYpEy/UY5/C+VwhtHjYJUdYQn2qgpSf"
    "k2MtaaXHJXfQSld+4NYZs6f+hLC9o3DuwJLaUhfdbK9vVxjdZmdsDBO78Py94cxTxIh4LH"
    "13g5iv+Ywt2ZeGhN3x0MVjw8HTMTzHMGGfNST+9vkWeuXMBUOHQMVSUz4cEcsnQm5p6UhW"
    "aY+NRWZ+UQPfX+qqu+97RGrlR4zeaVzSISPWMYKOaakoNDBeEEw3VNI7kjSEnl5FoUr0UE"
    "sppJg7QiBbZcePRv/s/OocBht3POeaXXTeXfXax8glsCOxlFPCJ+PkotPu9pVXwp0xU981"
    "a7U/XF32P3Z6kI6tfz0h1dylyr+dFR3Q4Jtx0fnUubhsnfrJRuA7XlDtG3ZjWDz/FrXKFt"
    "dSW2rlLTXM+BjbpeK6IiK7gPimXa0Yz/O0yqF5+ArOVZXGtvn6dQFwoVQuujov5cnmCsN3"
    "XTZ0gHW5lT2ngiov85Xcb9WHxbtrhvrTykIuKGo5FfVFj8qs4JFesVlvFYfzEE/uWjmH8f"
    "l4RmVqPOsgwPqAvXoqWN8Be2q2WAOofe5cOWdBZVs5T3wX2egsWQBaK7g4aUVo5xcw7Saq"
    "0bV8DR4hC0jqiLNIEFKZHeAaOI18P8x1Hpu5G7p5KMnj97ikJmlkUPh+zt4i9p7pMoXDVs"
    "dECByJL50Fdu6hiR89qoIsdRjmmDMyDaJRpQrDNDEUVaGaWV4da6k3uCFswKUOA9U3c0Hv"
    "IS6Cchg52CSo79NQCJsmcaTww1eFzSdI+ZFgautYI1XBR79Vs+vGADs8FaqQxyxOhA56VV"
    "zfnnZECUJgddY8CNZ/3aXPNVa5O6w+lXisU4l8Cjwb/W2gvZckimr6uYKm1mbo5y05ittw"
    "cOMjE3Q+2VkO9ohQjftyuNexvD9CLG8BxJ/AnbzqFHMhf0OhFt3yeo6I1f6kVdZvfXKUP3"
    "Xu7slRzczXzHwVVLAqM3/SujxptTtr4zlLkngR6j6DyIsT+/lknvZQMzRFvgFH3EXOtCo4"
    "zBMpR9qoj20p6moXr0Br2f4VdZTdcap++wBPbY4L3lW0ykFqeXfaShnwm5+512bU+OMghW"
    "fxy7m8LHNxK27nOm912/AVUytwku3M3WTVPV2dz+ddfXcXuXeovrnrXat7qhIU6V6VO7v8"
    "wWl4bkb4Wz69mBCr+cRdv6ekpgGWMxNng18soeW45A6aibukZnNEzFvuLcP4JERr1qfKel"
    "bL/RI6jojV+q2yfoPt21I/dBITrfVcZT3Xh+zV3BTX/GrNr1ZBBevzfM4nWOufP3ninz/R"
    "fTODfw76bD7zrNS+ecr50b0f10Mfl+8mjbmXqgIW0aLcWCWcIVWTs+9Hy984RGXqbUL5bY"
    "L+oWOjLOpxqRr3JS5Lw2zowWQKoFqloE8J1uiXRz8W/l1uBUiJ7oyDXh0wXpXhsMtuP/Vt"
    "dTum9QyWqOxtdYmwyxXNt6Ihl1XTf67lFjsFm/9Y5PIAFY173EqAZrcKPiYBsJUwRcI3l8"
    "cpjBPdRYhCd7jlESoVWb81KG2SSmoRl5qjRgaZ5OfsLaKTcFimMnzSjxJKu6IvXD4vpK40"
    "9EdZ0TjZiMgOhspu5E41NahKIOwX30F0X+7vF/EN3N/Pdw5UeQlrlzOZeW3FglvTQ5HHvz"
    "b9acietV2QXsL4WP9i9vB/K1YLKA=="
)
