"""What the invoice says, in the buyer's language (Russian or English)."""

from __future__ import annotations

from models.infra.i18n import language, render

CATALOG = {
    "en": {
        "title": "{amount} Stars top-up",
        "description": "{amount} Stars added to your balance in the app as soon as the payment is confirmed.",
        "label": "{amount} Stars",
    },
    "ru": {
        "title": "Пополнение на {amount} {stars}",
        "description": "{amount} {stars} на ваш баланс в приложении сразу после подтверждения оплаты.",
        "label": "{amount} {stars}",
    },
}


def stars_ru(amount: int) -> str:
    if amount % 10 == 1 and amount % 100 != 11:
        return "звезда"
    if amount % 10 in (2, 3, 4) and amount % 100 not in (12, 13, 14):
        return "звезды"
    return "звёзд"


def invoice_text(code: str | None, key: str, amount: int) -> str:
    stars = stars_ru(amount) if language(code) == "ru" else "Stars"
    return render(CATALOG, code, key, amount=amount, stars=stars)
