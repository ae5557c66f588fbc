"""Buying again for an amount with an open order gives that order back, and opening one
past the limit retires the oldest (see models.orders.opening.open_order, whose SQLite path takes
the same steps: change both together). `checkout_at` marks an order whose payment
Telegram is taking, which is neither given back nor retired.

The function has a new name: the old `open_topup_order` stays for API processes of the
previous release that are still running while this one starts (a later migration drops
it), and it keeps working on the TEXT columns.
"""

from tortoise import BaseDBAsyncClient

RUN_IN_TRANSACTION = True


async def upgrade(db: BaseDBAsyncClient) -> str:
    return """
        ALTER TABLE "topup_orders" ADD "checkout_at" TIMESTAMPTZ;
CREATE OR REPLACE FUNCTION open_or_reuse_topup_order(
    p_user_id BIGINT,
    p_username TEXT,
    p_first_name TEXT,
    p_language_code TEXT,
    p_order_id UUID,
    p_amount INT,
    p_now TIMESTAMPTZ,
    p_expires_at TIMESTAMPTZ,
    p_paying_since TIMESTAMPTZ,
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
    -- The conditions stand on the outer UPDATE too: an UPDATE that waits for a row
    -- lock (a payment marking the order paid) re-checks only its own WHERE clause.
    o_reused := TRUE;
    UPDATE topup_orders AS t SET expires_at = p_expires_at
     WHERE t.id = (SELECT r.id FROM topup_orders AS r
                    WHERE r.user_id = p_user_id AND r.amount = p_amount
                      AND r.status = 'pending' AND r.expires_at > p_now
                      AND (r.checkout_at IS NULL OR r.checkout_at < p_paying_since)
                    ORDER BY r.expires_at DESC, r.id DESC LIMIT 1)
       AND t.status = 'pending' AND t.expires_at > p_now
       AND (t.checkout_at IS NULL OR t.checkout_at < p_paying_since)
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
                       AND (r.checkout_at IS NULL OR r.checkout_at < p_paying_since)
                     ORDER BY r.expires_at DESC, r.id DESC OFFSET p_max_pending - 1)
       AND t.status = 'pending' AND t.expires_at > p_now
       AND (t.checkout_at IS NULL OR t.checkout_at < p_paying_since);
    INSERT INTO topup_orders (id, user_id, amount, status, created_at, expires_at)
    VALUES (p_order_id, p_user_id, p_amount, 'pending', p_now, p_expires_at);
    o_order_id := p_order_id;
    RETURN NEXT;
END;
$$;"""


async def downgrade(db: BaseDBAsyncClient) -> str:
    return """
        DROP FUNCTION IF EXISTS open_or_reuse_topup_order(BIGINT, TEXT, TEXT, TEXT, UUID, INT,
    TIMESTAMPTZ, TIMESTAMPTZ, TIMESTAMPTZ, INT, INT);
ALTER TABLE "topup_orders" DROP COLUMN "checkout_at";"""


MODELS_STATE = (
    "eJztXGtzmzgU/SsaPnVnspnEeW5mZ2fc2GndTeyMQ7qdNh1GBsVWAxJFIomnm/++kgwG83"
    "ANtR3s5UMflu4FcY6uuPcg+KE51EI22/1ABzcccqSdgR8agY78T6pvB2jQdaMe2cDhwFbG"
    "3+jAYFOzAeMeNLnouIc2Q6LJQsz0sMsxJdK8CeRZLGAjyBCAxAKm7zHqgXvxZwDNh6FHfd"
    "EqDssAG0FP2A7GgKFH5EEbuB41EWOI7crTWdQU58NkuPQj+wR/95HB6RDxEfLE8b98Fc2Y"
    "WOgZsfCn+2DcY2RbM+ipf0Wn6jH42FWt5+KEF8pWjntgmNT2HRK3d8d8RMnUQVyYbB0iIo"
    "bHkRWDlPi2HcAfNk3GKxq456PpQK2owUL30LclMdJ7MoaoTTOMbk83btq6YWgp0kKPGNpB"
    "k0mJJBwTzhQGDnw2bESGfCR+HjReJueJkJhYyRN+bPbP3zf7bw4av8kTUjFrJvOpG/Q0VN"
    "eLOgTkcHIQhXwE9YjaFvLSYOvomWeDHXmUgjsAc4p2aBLBHU37NeA9B1+9/UmXR3YY+27H"
    "cX1z1fykIHfGQc9lr/suNI/xcH7Ze6vwj/BWoWX4hGM7DXpLwMaxg7KBT7gm0LcC393wP9"
    "vFReeqfaM3r65nCGk19bbsacyQEba+OU7ExfQg4J+O/h7In+Bzr9tWaFLGh546Y2Snf9bk"
    "mKDPqUHokwGtOCZhc9g0w/Nk4UxT/OGm182mN/JIMotNDv4FNma8zHK2CKnan/c+MSVfYO"
    "Bjm2PCduVp/9LWT7VEaH7YJSMsQZ88QDLsfFeGhWVAXjTqZj2XEHSlCFrlHcdD0OoRexws"
    "CJsbhWr0Mqm4f4jd62SDzF2eoGcZqR7aoHm26S6n4SRbIIFDxZkEVw4zyPwukTVEXptwb5"
    "yVGMa75+aGtjI0kLDEiC2UIOYzn5GSfdE4stHQg47hwrEjzmOYIs8aIgOrWHgQs1L7mkjc"
    "vmg+E4OaWJhi/gQB8jU3o5uYzsbdWzzskJwkY2KfiDYxY5PxFdzBqpvODeUQfv+j0Tg4OG"
    "nsHRyfHh2enByd7p3uSG5FX7rrZE4Evu2863QTaYZsmJ/kQUek7Rkr3zwGIp+fs/B6q5x2"
    "g4cEWWdAzEILcwZETQLEKoI5fkTJ+ub1KYooUXGVIkSWOG3iO4qSjhgmJCZKURP6LqfcWR"
    "Exeu/69loEG3V994702xe33dYZ8JBINKw70mp/NM777VZHPwMWejQm9N2RZuvD7Y1+1e6K"
    "dmh98xmXS9KCRM6UTvvHC5RO+8mbU1Q6ya5ZyuYvlIuWT/OPUpdUxUsqSKgD7XERwSDmsg"
    "2Ir0Y0iOkxlBfTYwL77cO2cXS0ALjCKhdd1TcLbyyDKliczHrWxUlVipNgDs9VCKhnTXPo"
    "Wc5vbzutbL7jPgm2fR9bu9Jz80JsDqmTtWrCUhx/daGJEp/lwDkvy405VTnNrWC9kaqzZ5"
    "lI03BBPSSS9b/ROJXdJqAPauTb4DAbRsFLOMfC1ijgPPg0rY3jU09cu7hipJ4haX2xsPQ7"
    "57qWXi2WAKpO3Vu3Fx5sI9eJnyIbXyVzoH0dUahLOTYzHxQGPTvzpCCibBbTgLQmcBBjYh"
    "iAPiFLlGEAAjnjdsCThzlHBDxhPgJ8hIBDCRoDUYYQYc1HkAMTClMLYJ71iHApx70jd0QX"
    "NgPKAUPEYqIR2GImekDYQeBCEwE9KJUANE3kcrYDmDwds+kTkA8lIbbFqO6IPMBVMCoin0"
    "WKktKGYyaNRLVJERNekwpzRz3VlL8gGwHVJWAFNmUovNxliWS1FlZJLSxfeMlGfxPElpLF"
    "TC2RVDDjXY1EsiEC8N4WLD0R6gNoh8nY4rDHnGrcy+EORR7iiHwhDXz+ZI+5bA3sjf3Dk8"
    "PTg+PDKdrTlnkgpwElYqk2AohKqFQZ7uuRqtaZ3WyIMrXQ5hUmb7rFeY651ZuTqsxvLTjn"
    "L53bKzjXAmktkFaBgl8VSM+bN+fNVvu1RLyYgpoh5M3qq/lintoXYSilcgW7uubt15JvGv"
    "hMEybL2caV/7Tql59TldCvYjtZ1ZnkX4dFt7FqTZtRpWFi8kixiYALxzaFVlIOXf7zrOKb"
    "uCpVwK9+5V5aURPEQQrPxfZgRd7rEwY1FxFLQlRwNl+3u61O990ZCPzvyHWz0xI/IbbCrV"
    "nt6eYsJNran647fdmEnl3syZaLZudSNkjRHS0YB6tWG4PgNHwv412KfHkx4VbricX1xM0q"
    "IGoZoFyZOAl+VoLlWc8tLBO3iWZzhMwH6pdRfBKutepTZZ7l7b4ExzG3mt8q8xumbyU4Tr"
    "jWPFeZ5/ohezWT4lpfrfXVKlCwvA2o+QJrrEiI3kxNzPrA8eLvPrKhuohcpBOvw27kOpPC"
    "+2WVKrSamxn6czhn85VnSfvqJee1735cjnxcfJpo012qEliAF9XGKrEZUg45+2M7+YlD3K"
    "dOE4qnCffYY9woivqsV417iS/vQDL0xWIqQLUKQZ9yrNEvjr7ItTxmlNoRmXLdmg16a94X"
    "uVmqfb3t5+d6wULbfupPH20Z6xkqUdFPH8U/SCdLr3WWb1WbBbn1W+ITCOHLd+Vxit7y20"
    "aIos1M5REq9HrqxqC0SiGgiTxsjrQMKSDo2ZknBsDIpjJqwP/lRchf3MmUX9U/ijAMomzR"
    "txxjLlv4ouNKvtoig6oAwoH5FqK7v7e3yM6uvb38rV2yL1GrUMJR1nbHOR9QjVzW/wXV1y"
    "nVl/at1AKp4/JvZi//ATV81Wo="
)
