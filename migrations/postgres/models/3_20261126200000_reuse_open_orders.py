"""open_topup_order gives back the buyer's open order of the same amount and retires
the oldest open orders past the limit (see models.money.open_order, whose SQLite path
takes the same steps: change both together)."""

from tortoise import BaseDBAsyncClient

RUN_IN_TRANSACTION = True


async def upgrade(db: BaseDBAsyncClient) -> str:
    return """
        DROP FUNCTION IF EXISTS open_topup_order(BIGINT, VARCHAR, VARCHAR, VARCHAR, UUID, INT,
    TIMESTAMPTZ, TIMESTAMPTZ, INT, INT);
CREATE FUNCTION open_topup_order(
    p_user_id BIGINT,
    p_username TEXT,
    p_first_name TEXT,
    p_language_code TEXT,
    p_order_id UUID,
    p_amount INT,
    p_now TIMESTAMPTZ,
    p_expires_at TIMESTAMPTZ,
    p_max_pending INT,
    p_per_minute INT
) RETURNS TABLE (
    o_order_id UUID, o_invoice_url TEXT, o_reused BOOLEAN, o_recent BIGINT, o_oldest TIMESTAMPTZ
)
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    -- Writing the user's row locks it until commit, so one user's orders are opened
    -- one at a time; a VOLATILE function's next statement takes a new snapshot and
    -- so sees the orders committed by whoever held the lock before.
    INSERT INTO users (id, username, first_name, language_code, stars_balance,
                       created_at, updated_at)
    VALUES (p_user_id, p_username, p_first_name, p_language_code, 0, p_now, p_now)
    ON CONFLICT (id) DO UPDATE SET username = excluded.username,
        first_name = excluded.first_name, language_code = excluded.language_code,
        updated_at = excluded.updated_at;
    o_reused := TRUE;
    UPDATE topup_orders AS t SET expires_at = p_expires_at
     WHERE t.id = (SELECT r.id FROM topup_orders AS r
                    WHERE r.user_id = p_user_id AND r.amount = p_amount
                      AND r.status = 'pending' AND r.expires_at > p_now
                    ORDER BY r.created_at DESC LIMIT 1)
    RETURNING t.id, t.invoice_url INTO o_order_id, o_invoice_url;
    IF FOUND THEN
        RETURN NEXT;
        RETURN;
    END IF;
    o_reused := FALSE;
    SELECT COUNT(*), MIN(r.created_at) INTO o_recent, o_oldest
      FROM topup_orders AS r
     WHERE r.user_id = p_user_id AND r.created_at > p_now - INTERVAL '1 minute';
    IF o_recent >= p_per_minute THEN
        RETURN NEXT;  -- no order: the caller refuses with the wait
        RETURN;
    END IF;
    UPDATE topup_orders AS t SET status = 'expired', expires_at = p_now
     WHERE t.id IN (SELECT r.id FROM topup_orders AS r
                     WHERE r.user_id = p_user_id AND r.status = 'pending'
                       AND r.expires_at > p_now
                     ORDER BY r.created_at DESC OFFSET p_max_pending - 1);
    INSERT INTO topup_orders (id, user_id, amount, status, created_at, expires_at)
    VALUES (p_order_id, p_user_id, p_amount, 'pending', p_now, p_expires_at);
    o_order_id := p_order_id;
    RETURN NEXT;
END;
$$;"""


async def downgrade(db: BaseDBAsyncClient) -> str:
    return """
        DROP FUNCTION IF EXISTS open_topup_order(BIGINT, TEXT, TEXT, TEXT, UUID, INT,
    TIMESTAMPTZ, TIMESTAMPTZ, INT, INT);"""


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
