"""Open a top-up order in one round trip (see models.orders.opening.open_order)."""

from tortoise import BaseDBAsyncClient

RUN_IN_TRANSACTION = True


async def upgrade(db: BaseDBAsyncClient) -> str:
    return """
        CREATE OR REPLACE FUNCTION open_topup_order(
    p_user_id BIGINT,
    p_username VARCHAR,
    p_first_name VARCHAR,
    p_language_code VARCHAR,
    p_order_id UUID,
    p_amount INT,
    p_now TIMESTAMPTZ,
    p_expires_at TIMESTAMPTZ,
    p_max_pending INT,
    p_per_minute INT
) RETURNS TABLE (pending_orders BIGINT, recent_orders BIGINT, oldest_recent TIMESTAMPTZ)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    window_start TIMESTAMPTZ := p_now - INTERVAL '1 minute';
BEGIN
    -- Writing the user's row locks it until commit, so one user's orders are opened
    -- one at a time; a VOLATILE function's next statement takes a new snapshot and
    -- so counts the orders committed by whoever held the lock before.
    INSERT INTO users (id, username, first_name, language_code, stars_balance,
                       created_at, updated_at)
    VALUES (p_user_id, p_username, p_first_name, p_language_code, 0, p_now, p_now)
    ON CONFLICT (id) DO UPDATE SET username = excluded.username,
        first_name = excluded.first_name, language_code = excluded.language_code,
        updated_at = excluded.updated_at;
    SELECT COUNT(CASE WHEN o.status = 'pending' AND o.expires_at > p_now THEN 1 END),
           COUNT(CASE WHEN o.created_at > window_start THEN 1 END),
           MIN(CASE WHEN o.created_at > window_start THEN o.created_at END)
      INTO pending_orders, recent_orders, oldest_recent
      FROM topup_orders o
     WHERE o.user_id = p_user_id AND (o.status = 'pending' OR o.created_at > window_start);
    IF pending_orders < p_max_pending AND recent_orders < p_per_minute THEN
        INSERT INTO topup_orders (id, user_id, amount, status, created_at, expires_at)
        VALUES (p_order_id, p_user_id, p_amount, 'pending', p_now, p_expires_at);
    END IF;
    RETURN NEXT;
END;
$$;"""


async def downgrade(db: BaseDBAsyncClient) -> str:
    return """
        DROP FUNCTION IF EXISTS open_topup_order(BIGINT, VARCHAR, VARCHAR, VARCHAR, UUID, INT,
    TIMESTAMPTZ, TIMESTAMPTZ, INT, INT);"""


MODELS_STATE = (
    "eJztXG1zmzgQ/isaPvVmcpnEeb3Mzc04sdO61ziZxOl12nQYGRRbDUgUiSSeXv77SRjMOw"
    "UXO5jjQ1+82hXiebRidyX4oZhURwbbfk/HNxxypJyAHwqBpvxPom0LKNCyghYp4HBsuMrf"
    "6FhlC7Ux4zbUuGi4hwZDQqQjptnY4pgSqd4F8io6MBBkCECiA82xGbXBvfgzhtrDxKaOkI"
    "puGWBTaAvd8Qww9IhsaADLphpiDLFteTmdauJ6mEwq79kh+LuDVE4niE+RLfr/8lWIMdHR"
    "M2L+T+tBvcfI0CPouf+KRrdF5TPLlZ6JC567unLcY1WjhmOSsL4141NKFgbixqR0gogYHk"
    "d6CFLiGIYHvy+aj1cIuO2gxUD1QKCje+gYkhhpPR9DIFNUdXg5Um/6I1VVEqT5FiG0PZFG"
    "iSQcE85cDEz4rBqITPhU/NzrvMyvEyAx15IX/Ni9PnvXvX6z1/lNXpCKWTOfT0OvpeM2vb"
    "hdQA7nnbjIB1BPqaEjuwzYgcVScHtgLtD2VQK4g2m/drwP9wvgfbifibdskngH+LqupDqE"
    "YyMJck/AxLGJ0oGOmcbQ1j3bbf8/m4d9DtajwUX/ZtS9uJLdm4x9N1y8uqO+bOm40llM+u"
    "YwxsuiE/DPYPQOyJ/g8+Ww76JJGZ/Y7hUDvdFnRY4JOpyqhD6pUA9j4ot9UYTn+UKZpPj9"
    "zeUwnd7AIs4s1jj4FxiY8WWWryKkKn/eO0STfIGxgw2OCduWl/1LWT/VEqEIy747vbnofo"
    "p72tmHy9M4fbKD05jbOZZ0C12FvKzXRS0rcLqlCFrlimcjqF8SY+YtCJvrhe7oZRBx/xB6"
    "tkmBjFWeoK2riRbaoVm6ySazY8YlkMCJy5kEVw7Ti/Q+IH2C7D7h9iwtEAw358aChquoIq"
    "GJESsUEGYznxKCfVE4MtDEhqZqwZkprqNq4lE/QSp2feFBzErlayxQ+6I4TAxqrqGJ+eM5"
    "yNfMCG6uGvW7UzwZEJ7udXP9mLeJGRv3L+8JVt/wbSKH8Psfnc7e3lFnZ+/w+GD/6OjgeO"
    "d4S3Ir2pJNRzkeeDp4OxiOog4lBflBHTRFmJ6y8uUxENj8nIXXW+WUGzwhSD8BYhbqmDMg"
    "chAgVhHM8SOK5zOvT1FAietXqVF2nzimS8lADBMSDSWo8W2rSW9WRMzo8ur2SjgbtRzrjl"
    "z3z2+HvRNgIxFo6Hek1/+onl33e4PRCdDRozqn7450e+9vb0YX/aGQQ/2bw7hckgoSGQnd"
    "dw8LhO678YdTELrLpihl+Qtl0XQpv5fmpVC7neMiRHSOs5mQbVEqIKEmNGZlcA+ZNA/kqu"
    "oCoZIL5eVKLp5+87DtHBwUAFdoZaLrtkXhDQVNJfORqGWbj9QlH/HmcG5RgNr6ImyOcn57"
    "O+il8x22ibHtOFjflpab52I5pM7XqjlLYfzdG41l9SwDzrzANmRU58i2hilGIrWOMpGk4Z"
    "zaSMTnf6NZIqCNQe+lxbdeNxtGwYs/x3xp4HA2fFqkw+GpJ+5d3DFyt4mUa7GwXA/ORkpy"
    "tagA1BG1bq1Lv7ONXCd+imx4lcyA9nXqQEPKsZa6F+i1bOVVf4irU6zso3SBiRgTwwD0Ce"
    "ki8wIQyBm3BZ5szDki4AnzKeBTBExK0AyIzIMIbT6FHGhQqOoA87RdwEr6vSN3ZCR0xpQD"
    "hojOhBAYYibaQOhBYEENgZGXHQGoacjibAsweTlm0Ccg9x0hNsSo7ojs4MIbFZHbjSKLNO"
    "CMSSWRYFLEhNU8qdxyNy7lL8imwG0SsAKDMuTfblV1sbb8VcvyV3atJR39TaivLJuNt1WR"
    "evCwkqrIhpR5dxqw2gSoj6Hhx1/FYQ8ZtbgvhzsUoYcpQoQk8NmTPWTSGNg7u/tH+8d7h/"
    "sLtBeSPJCTgBL0zFUPoiUKUynm66lOrTOg2ZBiVKEjKkw+Z8vzHDJrjyDVmd+2xpy9dDa3"
    "xtzWRNuaaB0o+NWa6Fn35qzb679W3S5UNE2p3UVLqtn1O/f0g+oWJ1dwdivvVJZ8f8Bhil"
    "Cp5rBW9gbVL29NLVGyCp1Xda8k/9ove1hV6RqMumVLTB4p1hCw4MygUI9XQKvfwip/VKtW"
    "CfzqV+7KkhrPDxJ4FjtpFVivrxaoWIjoEqKSs/mqP+wNhm9PgGd/R666g574CbHuH8DqL4"
    "5gISHrf7oaXEsRerawLSXn3cEHKZB1dlTQD1ZdYPScU3XslDcmsiuKMbPmlRA7B0WgFlo5"
    "51ISYG9WztBm/stlhnN/Z0uwHLVsYGbYJJrlyr8ExyGztsBTZ379J/kSHMdMW57rzHO7xV"
    "qbLda2utZW1+pAQXUnDrPLa6F4MXj7MDbrPcPzv6+RAd2byEQ69srjZi0tWXi/rLIG6c7N"
    "lOqjP2ez646S9tUXHNd+3K2a4uEyL7P5xxIlsAAXrYzU4vSbHHLZD6iEbZoXGVT/VY97bD"
    "OulkU5atU8nFcSgRmQTByxXgoc9VJoJwwbCHjlxVcRPtlMXeqIW8K0MSeu1nzQbbNqsu05"
    "jp9n/YXOcbRfrGkY6ym1nrJfrAl/R0xmU+vMyOo2CzJTsthr7P4LVMvjFLyp1USIgtMpyy"
    "NU6hXDjUFplbl9F9lYmyop2b3XspWX38NApzYJ/v/lZbZfPJqSnag/Cjf0vKxoThMyaeDL"
    "aiv58oZ0qhIIe+oNRHd3Z6dItrizk50uyrZYrkIJR2nn13K+exmYrP/Dl6+zA1nZJy5LhI"
    "7VP8xe/gPfahlV"
)
