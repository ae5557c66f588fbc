"""The bot's routers, each built fresh by a factory (a Router can join one Dispatcher)."""

from aiogram import Router

from bot.handlers import commands, payments, refunds


def create_routers() -> list[Router]:
    # Payments first: no other handler may swallow a payment service message.
    return [payments.create_router(), refunds.create_router(), commands.create_router()]
