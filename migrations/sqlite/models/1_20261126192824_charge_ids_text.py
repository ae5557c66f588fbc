"""Telegram decides charge ids, names and links, and the host decides lease holders:
TEXT, not VARCHAR(n). Real Stars charge ids run past 128 characters (see models.tables).
SQLite never enforced the lengths, so this only records the new model state."""

from tortoise import BaseDBAsyncClient

RUN_IN_TRANSACTION = True


async def upgrade(db: BaseDBAsyncClient) -> str:
    return "SELECT 1;"


async def downgrade(db: BaseDBAsyncClient) -> str:
    return "SELECT 1;"


MODELS_STATE = (
    "eJztXG1v2zYQ/iuEPnVAFiTO64JhgBs7rbvEDhylK9oUAi0xNhuJVEUqidHlv4+kJUvWWy"
    "3VdmxPH/pi8o6knuNRd49O+qE51EI22/1ABzcccqSdgR8agY78T6pvB2jQdaMe2cDhwFbC"
    "3+jAYFOxAeMeNLnouIc2Q6LJQsz0sMsxJVK8CeQsFrARZAhAYgHT9xj1wL34M4Dmw9Cjvm"
    "gVwzLARtATsoMxYOgRedAGrkdNxBhiu3I6i5piPkyGCx/ZJ/i7jwxOh4iPkCfG//JVNGNi"
    "oWfEwp/ug3GPkW3NoKf+FZ2qx+BjV7WeiwkvlKxc98Awqe07JC7vjvmIkqmCuDDZOkRELI"
    "8jKwYp8W07gD9smqxXNHDPR9OFWlGDhe6hb0vDSO3JGqI2zTC6Pd24aeuGoaWMFmrE0A6a"
    "TEqkwTHhTGHgwGfDRmTIR+LnQeNlMk+ExERKTvix2T9/3+y/OWj8JiekYtdM9lM36Gmorh"
    "c1BORwMohCPoJ6RG0LeWmwdfTMs8GONCrBHYA5RTsUieCOtv0K8C7AV29/0uXIDmPf7Tiu"
    "b66anxTkzjjouex134XiMTucX/beKvwjvJVrGT7h2E6D3hKwceygbOATqgn0rUB3N/zPdt"
    "mic9W+0ZtX1zMGaTX1tuxpzBgjbH1znPCL6SDgn47+Hsif4HOv21ZoUsaHnpoxktM/a3JN"
    "0OfUIPTJgFYck7A5bJqx8+TgTJv4w02vm23eSCNpWWxy8C+wMeNVjrN5jKr9ee8TU9oLDH"
    "xsc0zYrpz2L231ppYIFbtd0sMS5pMDJN3Od6VbWAbkZb1uVnMBTlfJQMu843gIWj1ij4MD"
    "YXO9UK1eBhX3D7F7nWyQscsT9Cwj1UMbNE823eU0nGQLJHCobCbBlcsMIr9LZA2R1ybcG2"
    "cFhvHuwtjQVoIGEpIYsbkCxHzLZ4RkXzSObDT0oGO4cOyIeQxTxFlDZGDlCw9iV2pfE4Hb"
    "F81nYlETCVPsn8BBvuZGdBPRWb97i4cdkhNkTOQT3iZ2bNK/gjvY+oZzQ7mE3/9oNA4OTh"
    "p7B8enR4cnJ0ene6c70raiL911UuCBbzvvOt1EmCEbioM86IiwPePkK7JApPNzK7zeKafd"
    "4CFB1hkQu9DCnAGRkwBximCOH1Eyv3l9E0UmUX6VMohMcdrEd5RJOmKZkJgoZZpQdzHpzp"
    "IMo/eub6+Fs1HXd+9Iv31x222dAQ+JQMO6I632R+O832519DNgoUdjYr470mx9uL3Rr9pd"
    "0Q6tbz7j8kia05AzqdP+8Ryp037y5hSlTrJr1mTFB+W86VPxKHVKVT6lgoQ60B6XIQxiKt"
    "uA+HJIgxgfQ3k5PiaQ3z5sG0dHc4ArpHLRVX2z8MYiqJLJyaxmnZysS3IS7OFChoB61jSG"
    "nrX57W2nlW3vuE7C2r6PrV2puXkuVmDUyVk1sVIcf3WhiRSf5cBZFOXGlNY5zF3DfCOVZ8"
    "9aIm2GC+ohEaz/jcap6DYBfZAj3wbDbJgJXsI9FrZGDufBp2luHN964trFFSP1DEnri4Ol"
    "3znXtfRpsQBQdereur1wsI08J36KbPyUzIH2dUihLuXYzHxQGPTsFFFBRMnMxwFpTeAgxs"
    "QyAH1ClkjDAARyx+2AJw9zjgh4wnwE+AgBhxI0BiINIUKajyAHJhSiFsA86xHhQsa9I3dE"
    "FzIDygFDxGKiEdhiJ3pAyEHgQhMBPUiVADRN5HK2A5icjtn0CciHkhDbYlV3RA5wFayKyG"
    "eRIqW04ZhJIZFtUsSE1iTD3FFPNeUvyEZAdQlYgU0ZCi93USRZzYWtJReWT7xko78JZEvF"
    "ZKamSNYw4l0ORbIhBPDeFhw9EeoDaIfB2Pywx5Rq3KvhDkUc4oh4IQ18/maPqWwN7I39w5"
    "PD04Pjwyna05YikNOAEnFUGwFEFViqDPXVUFWrjG42hJmaq3iFyZtueTvH1OripHW2b004"
    "5x+d20s41wRpTZCugwl+lSA9b96cN1vt1yLxYgxqBpE3y6/mk3mqLsJQTOUSqrqK6rXkmw"
    "Y+04TIYsq48p9W/fJzqgr8VaySVc0k/zosW8aqNW1GFYeJySPFJgIuHNsUWkk6dPHPs8oX"
    "ca1VAr/8k3thSU3gByk856vBirRXRwxqLiKWhKjkbr5ud1ud7rszEOjfketmpyV+QmyFpV"
    "ntaXEWEm3tT9edvmxCzy72ZMtFs3MpGyTpjub0g2WzjYFzGr6X8S5FPr2YUKv5xPJ84mYl"
    "EDUNUC1NnDg/q2DlWc0tTBO3yczyNlDBxjG1mu1ZZ/uGt/UKNk6o1nZeZzvXD1/XM1iqeb"
    "ead1sHEyyuMDGfeIsFj9Ebi4ldHyhe/N1HNlQXkYt04jXJjTxnUni/LJOdVHszg5cM92w+"
    "IynNvnwqcuVVcYuhFau8ABdWL0pgAZ6XM1mLIjm55OyPsOQHDnGdOkwoHybcY49xoyzqs1"
    "o17hW+yALJ0BeHqQDVKgV9SrFGvzz6ItbymFGpUi6lujWFWyuul9ssNrcuB/k5XzBXOUj9"
    "SZwts3oGS1T2kzjxD5XJ1GuV6du67YLc/C3xanz4UlZ1nKK3v7YRoqjIpTpCpV5b3BiUlk"
    "kENJGHzZGWQQUEPTtFZACMZNaGDfi/vCD3ixUu+Vn9o3DDwMvmffstprKFL8At5Wse0qlK"
    "IByIbyG6+3t781T87O3ll/zIvkSuQglHWWVwBR/WjFRW/2XN10nVF/YNzRKh4+JvZi//AZ"
    "lUOck="
)
