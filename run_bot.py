"""The bot worker from a checkout: `python run_bot.py` is the `stars-bot` command
(bot/main.py), for a checkout that was not installed."""

import sys

from bot.main import main

if __name__ == "__main__":
    sys.exit(main())
