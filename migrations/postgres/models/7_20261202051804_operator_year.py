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
    "eJztXW1T47YW/iuafLnLTMpQYNktt9OZQLLbbCEwELadNh2j2CJxcaTUsoFM7/73eyTb8X"
    "tqOy84QV+WjaQj28/Ry9FzjqR/GhNmEIvvt4y/XO5MCHUap+ifBsUTAv/JyG2iBp5OwzyR"
    "4OChJYvjeTmZjofcsbEuqnzAFieQZBCu2+bUMRkVAi00wdTFFtKZbRNdJCP2gDAaYgtTnZ"
    "yi5zGDMgZBpoMwNeD3rIkoeXGQwyCNo/vwoffioQbT4akmHa2h/gG1iDEiNrLZM3rng+Ml"
    "7Ue+fW8fXVGo0SCTKXMI1WfokUC1DBLDYvvibV1q/u0SzWEj4oyJDe/8x5+QbFKDvBAe/J"
    "w+ag8msYyYbkxDVCDTNWc2lWl3d932J1lSIDHUdGa5ExqWns6cMaPz4q5rGvtCRuSNCCU2"
    "dogRURd1LctXbpDkvTEkOLZL5q9qhAkGecCuJZTe+PHBpR7o8knin+Of/FeLFNO03lVfu+"
    "30Na2RaiPiFRJq9ZN0RkX7MkVrA2C+efWGgMjUhnjA+c+tm3dHJ3sSAsadkS0zJVyNb1IQ"
    "O9gTlaCHKOMJc71mH0f6zBx1qZONdSiTwNv0UssiHSSEUIfdKQAxgKk4sI1bc0SJ0USYQ8"
    "tE0PxQ2LqTPSkbcvgS+PPdD4eHR0cfDg+OTj6+P/7w4f3Hg49QVn5LOuvDAj2ddT93e33x"
    "bAbjhjemiASholAlNsEcviClkj702myFhBIJhcDH1Echq2jp/c5vEr8J539bIqH3tXUjm/"
    "9l6zfZ/iczP+fiqvc5KB7C3Tu/uDpLAA5DOLPTeJ+PsZ3TAQKBnYC7McEvmkXoyBnDz5Pj"
    "BfAHYJ8c7yVg9XMOZVYc3sg8ocE8UQboDNFKkPtDd4mxfWN4f3/4sQDgUCoXcZkXh1yHEQ"
    "HA0HDGyN6GHMeckGzE45IJsA1fdD/4zxa29kWDS/eyc9tvXV7HRph2q98ROYex0SVIfXeS"
    "0Mu8EvRrt/8zEj/R71e9TnJunpfr/94Q74Rdh2mUPWvYiGISJAdJMTW7nNhalp20aPaOCN"
    "V5+i7enV5lkgYD156Vxj4qtRrwX3ck2xj0YpXw8JhpwYr2nNbCJ2YTsP9+ITOpiS68t1gQ"
    "ZQDvL3Pu/Gq2rPV/C5pYkBo2ARs/z5dV0V4P3w5fTBz59TcwCN10zwFjAfEQ64/P2Da0GN"
    "Yihx2yTPRli07DD+vDPoN/CoJ/IQ3zTlDXVnWCohqI9v0iKogjLrImh5NkCqZ4JL9YvJt4"
    "Ex/QNhmamVSHl9FcxHIYokhBguPWwTZHmCKoDvEpfCN6sNkkZCAEK6ATNIVlV4IvSBIM3m"
    "P39lMkxxqeMaAD2ocFoeA5KHkCQX2M6YhwNHShdmZLasQWORxb/5WLxwfT5oJD4c9Q3GEy"
    "zSbQACHV5AM6dE3LfzPTQe8E2SIqCdec/+HBC3+HHxxi7zURZ/AVNplaeIZG5hM8X9A0I2"
    "hFij1R7MlWTECKI6ndMmYdHEkNFvH1mvbVKr6uzX/bVvGemVFJzwnRFSg6yZQpPa9Yz9jS"
    "qkxeKdGV8KA11u46JjHFlynSpg4q2ARpE6doTMIzWr0v+OmXG2Jh+RG5SJdjaOo5zqTw/p"
    "ZmtlZHwXSecqJNvIzmIgqGPJWJMfFZBZ/DQOyZGAFBAY+QtIP+SKjhRWgImiQkJdJ0y5L1"
    "CWrlV9t0wN5HZtLtDrLwNZRjb93/7t6HxPve+4AR0W3Mx0jHlDIHWYwT8SBZ85UIbhHdAm"
    "qawivAOyNPGJEXqNWaiaJN+dgxwfCKY8xB5F6EvICV5MBSRPy9l5zOAOofw8SKnrHpoCEZ"
    "m5K0kW8hauDwBHjxB0iGMmMsiB5kuAQ9m9BHXAfBdCxfQQBisREvyNr8AdM1dB5ROPFeDS"
    "gZyY0MAHP6MF4C3s3kY88C/POts0GNW0EOgsLJk6P9OCYvPyVb9ybJIYlcCvb8dXJQfif4"
    "ifjy+OiwwOr46DB3cSyy4qYcZ66tl4I3lFAAFwE4HGGS+HaoO0kZaHGsA+HNQd3wp4OyQ8"
    "Z1p9fu9j6fBtPJgLY7F92vnZtO+xTB5GTCyosYA9o6a/XasDKEVDzE1IBpxig2uiSYopMi"
    "RFFynRrhiU6SmvJnjwwDL5+DjohsblFzsN4VzeH3xx+OPx6dHM8XMvOUReuXNLmcnJNTuC"
    "4mZTLEFTFTZ2IGAHUr0W8xQcWy1lrJUUO5pJoToqoz11nPFuaORmw7K6I3n2CNSylutTy3"
    "qpxVb6J7KQpdhZyqkFPlvVAhpyrkNO7v+Gw+ZLo7ZHpzkbdjBCUKOzv68BEjG0+QkELMRt"
    "c2mZjuBHF3OC+Khswdjedxor7DwPdrZHg8lq90QINQU/k1e/kxqV40KXOdIXvx3SOeE+GZ"
    "2Y9QXDgduHyI9HjcB0wCNGjbM5PuhRvi2fexyEBTnU0m4qexh4bkAcah8IugqI4tixinCE"
    "N1fm3wYCw8HiMRVgsVCC8JZQgMBWioQsaPipWSXkSq+CJrBq/nOCJNvOCAjogjwnP7oVOH"
    "o3f3ER8PtL77JvK6zannL3JtHR7nBd8KfARge3mekz8a8co8J0dBX8pb94e8cnTsI3xfVQ"
    "Y5kK0zV9/43P3UP5Xtd0CvbzqX3bvLUzT1ho56cMNgyVey2ONylezGmq2HX8dmBxxhsHOq"
    "4B+RU/hXxt+fBjXRSTO1kM8JZckqZqg8M+QPiNqEUWdcxkuVFtyhjrAyb9UUzzQw+TR3Co"
    "3VyHDZnjEGJibNwTgtnQB5COLrmnPnKZtt5mdXVxexZn7WTbbju8uzDsy1ss1DIdPJGWCE"
    "VQ5wlt4FFJdTrNgSI/xLBvSLRvWXLMjVSF5gJH+7MSG3nR5Y+rA0B0v/U6t7IcJAHrBp1S"
    "UGRG3PUtuztmRg2jaPl4oGelv6TvOtZVWeXYPS+hZoXQVRrmpZmqDty1joKUllq5e31YV1"
    "6tqkwmbTtKTCvwL+Kt7wTUwcKiBKReXUQQVqT3E98F7rnuIvbHgrabSMOJt5XnNRrM1fbK"
    "jNmbgi8TbiKYaIUeFERorors2ZLc9IE980spkLqVAtR3yMbSg7FEEiT6BKC01tphPOCc/a"
    "ZrzCmpc4KE3+TTXjfLosKL9zHNmqthDmx4OMmWVkDdH5pmgooUzQ8iao7FqaSx3TKmuCJk"
    "SVCVpnE9QbONMq/nJ71cshoOcSSc2auoP+hyyTr80MjUS2ySMzTcr3xWNfI7hNILS42yV7"
    "WEJ9ooLUKUNTo6JfIC65g34BcQqjcUWtWWAsbW0vnJt6qbD1ogHtq7MKo3Z0hmGYMLPzbU"
    "PvnBYtYtv/q4GYr/nsWN4gpGqKZ+KOIBHkZo+Ivx6RMZ/yeBN5Tm8qNRKH5SWmQoEji5uI"
    "j00KR7KCKOLCocGLlvJFV/H+/FdfY3CD0Rtv8UBd/zqiUwQN0xAHQ8OKBsEYZDrmU2pLwu"
    "ur6A1Fcfevru+uobOxqTsd0JvOp7te+xTZBMwUQ5wG8lU7v+m0u31xHMiT5qlvQFvtL3e3"
    "/UsZFxJeeibKn3lFh2bwS7vpfO3c3LYu/GQtOM5xQBdFkHu5mhd6Isc+L/5EpoZVypygxo"
    "INad1R5wuH+dLxt5m1qAVhhYuuKJtgq1R0UERkFxBf96lJlOUFyOWwSWyJmLhaY3v4/n0B"
    "cKFULroyLx1tyzV/y50mb1EoZyvkVFBnw6GWFpyKgtvd1a4/rCyknKILtKLbKKMyS2ymrN"
    "mot8zWyRDP3O1J+XDm70p682gy28hxyufDGZVReKpz01WMQ/1UsLoYh9RosQJQ+2x6N70K"
    "KtvKceJfkY2OkgWgNYLb5paEdn5r3W6iGrWMCqA68k9UWRLU4GCW3cQ0Yh6t4PShBc6aCL"
    "0ypwEzZkpfODil6N+jo1qx2nZDSfHzzJ5WhNT8QoUdAamk+6/HHFMnjQzPn5/TXOT0o7JM"
    "4eOXJoRzHLkUwjsHqTk/jkjcjCBPNZowSmbBFRLytCEdQ1Fxv0JWMNhK6g2u9Rwyxz9GyX"
    "QQtB5iIyiH0RTrkZORsK6TqcP9Oye4xZ7FyU8i+l1u+RQVXPpv5Z2GBNjhGReFXGowwuVN"
    "FcIb0JTxa8G9FTJrfnOF/7mV3aFF49iU3/I1/Zb5TrJs9LfBMVaR+FXupBou9tfjTtoSZ/"
    "2at8xtmHCPnGJYHPaIkMK9Gu5qh+hbuGajAOKvcNJr3V1GhcKURfRKBT1HxDYShq7UWzEK"
    "XTmC36AjWLmGlGuoDipY1jV03ro9b7U7K2OFS3J4Ed9RBo8X9yzlc3kyhFWTPpo1hO8vir"
    "YXW0pdnoq0jwbhl2KudvAw7kbL8q+VNekTM8Xh8HhmMVzwBLllPPnl4+1rtX5f/8i9sjWN"
    "3w9SeBY/ItHNWi1uxRmJ161uG35i0wii6DvzOHpxg2bnt+uuvFWTvExNeadmLU9S9Dqn5t"
    "oZm2bz2cWEmKITd/0GMbVMrLZM9Do/r6DluOQOLhN3Sc36mOiPzK1C+CRE1dkDddazmO4r"
    "6DgipvRbZ/0G5lsFHSdElZ7rrGflY6+nUaz4VcWv1kEFqwu9zydY1fGCr3y8oGybGfxz0G"
    "bzmWeh9vVTzhsPflwNfVy+mTTmQaoCWGQW5cZqEQspXjn7VMV8wyEqo8yEKqdN29zRyqIe"
    "l1K4VzhiEdORC4MpgJp19Vo+9ClBhX6l+6jC0xzKzQAp0Z2Jz1PnP9SlO+xy2I8643LHtJ"
    "7BEpU94zJrJ+SSa7hSmyDr1hIK7YKUe3+XRKno9uitBEhuE10SoKI7RLcSILHTeUl8Cm4F"
    "30p4vFNtN0klbSVMkX3A1XEKNxzvIkRhYGV1hEodErI1KK2TlGwR29THjQxa0s9pLiImcV"
    "imNszkW9mTvWRUZT7DKM66NbMutcvfcB0R2cE912s5bFN0qhII+8V3EN3vDw6KRJkeHOSH"
    "mYq8BG/CqJN5/smCWztCkc1f2/E6tOHKLugosYxd/WT27f/SJwcp"
)
