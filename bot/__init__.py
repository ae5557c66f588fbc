"""The bot worker: aiogram long polling, payment handlers, notices and reconciliation.

Nothing is imported here, so `bot.parser` loads without aiogram.
"""
