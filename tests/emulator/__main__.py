"""Run the emulator on its own: `python -m tests.emulator --port 8081`.

Point both processes at it with TELEGRAM_API_URL=http://127.0.0.1:8081 and drive the
paying user through the /_emulator/* routes (see tests/emulator/control.py), or give
--sandbox-token (the bot's token) and open http://127.0.0.1:8081/sandbox/ to buy Stars
in the reference Mini App with clicks. Like Telegram, it answers 401 Unauthorized to a
token it does not know: give the bot's token with --sandbox-token or --token.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib

from tests.emulator.server import BotApiEmulator


async def serve(
    host: str,
    port: int,
    order: str,
    token: str | None,
    latency: float,
    label: str,
    tokens: list[str],
) -> None:
    emulator = BotApiEmulator(
        transactions_order=order,  # type: ignore[arg-type]
        sandbox_token=token,
        latency=latency,
        sale_label=label,  # type: ignore[arg-type]
        tokens=tokens,
    )
    url = await emulator.start(host, port)
    print(f"Bot API emulator listening on {url}", flush=True)
    if token:
        print(f"Telegram sandbox: {url}/sandbox/", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await emulator.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--transactions-order", choices=["asc", "desc"], default="asc")
    parser.add_argument("--sandbox-token", help="the bot's token, to sign the sandbox's initData")
    parser.add_argument(
        "--token",
        action="append",
        default=[],
        help="a bot token to answer (repeatable); any other gets 401 Unauthorized",
    )
    parser.add_argument(
        "--latency",
        type=float,
        default=0.0,
        help="seconds every method but getUpdates takes to answer, give or take 20%%",
    )
    parser.add_argument(
        "--sale-label",
        choices=["invoice_payment", "paid_media_payment"],
        default="invoice_payment",
        help="how getStarTransactions labels sales (the real server says paid_media_payment "
        "when Telegram sent no product information)",
    )
    args = parser.parse_args()
    if not (args.sandbox_token or args.token):
        parser.error("give the bot's token with --sandbox-token or --token")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(
            serve(
                args.host,
                args.port,
                args.transactions_order,
                args.sandbox_token,
                args.latency,
                args.sale_label,
                args.token,
            )
        )


if __name__ == "__main__":
    main()
