"""The bot worker: `stars-bot` (or `python run_bot.py` in a checkout) polls Telegram;
its subcommands are operator tools."""

from __future__ import annotations

import sys

from models.infra.settings import load_settings, url_secrets


def main(argv: list[str] | None = None) -> int:
    # Settings first: a bad value should stop us at once, before the heavy imports.
    from bot.parser import build_parser

    args = build_parser().parse_args(argv)
    settings = load_settings()

    import structlog

    from models.infra.logs import configure_logging, log_failure
    from models.infra.loop import allow_open_files, run
    from models.infra.startup import TOKEN_REJECTED, StartupError, check_databases

    # `copy-database --to` names a second database, whose password no log may show either.
    secrets = (*settings.secrets, *url_secrets(getattr(args, "to", None)))
    configure_logging(settings.log_level, settings.log_format, secrets=secrets, cache_loggers=True)
    command = args.command or "run"
    try:
        # Every command uses the database: one that cannot be reached says so in one line.
        run(check_databases(settings.database_url, settings.database_direct_url))
        if command == "run":
            from bot.worker import run_worker

            allow_open_files()
            run(run_worker(settings))
            return 0
        # Only the commands that call Telegram load aiogram (bot/cli/telegram.py).
        from bot.cli import run_command

        return run(run_command(settings, args))
    except StartupError as failure:  # one line naming what and where; its own exit code
        print(failure.message, file=sys.stderr, flush=True)
        return failure.code
    except Exception as error:  # exit 1 with a logged, redacted reason (never a raw traceback)
        # Looked up, not imported: the database commands never load aiogram.
        telegram = sys.modules.get("aiogram.exceptions")
        if telegram and isinstance(error, telegram.TelegramUnauthorizedError):
            print(TOKEN_REJECTED, file=sys.stderr, flush=True)
            return 2
        event = "worker.failed" if command == "run" else "command.failed"
        log_failure(structlog.get_logger("bot"), event, error, command=command)
        return 1


if __name__ == "__main__":
    sys.exit(main())
