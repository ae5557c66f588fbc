"""Everything the bot says to people, in English and Russian."""

from __future__ import annotations

from models.infra.i18n import render

CATALOG: dict[str, dict[str, str]] = {
    "en": {
        "start": (
            "Hi! This bot tops up your balance in our app with Telegram Stars.\n\n"
            "Open the app, pick a package and pay with Stars: the balance updates as soon "
            "as Telegram confirms the payment.\n\n"
            "/balance: your balance\n/paysupport: help with a payment\n"
            "/privacy: privacy policy\n/terms: terms of service"
        ),
        "open_app": "Open the app",
        "open_private": "Open a private chat",
        "private_only": "Payments are private: please send {command} to me in a private chat.",
        "balance": "Your balance: {balance} ⭐",
        "credited": "Payment received: {amount} ⭐ added. Your balance is now {balance} ⭐.",
        "recovered": (
            "We found a payment of {amount} ⭐ that had not reached your balance; it is "
            "there now. Your balance is {balance} ⭐. Sorry for the delay."
        ),
        "refunded": "{amount} ⭐ were refunded to you. Your balance is now {balance} ⭐.",
        "checkout_try_again": "We could not check this order just now. Please try again in a minute.",
        "checkout_unknown_order": "This invoice is not one of ours. Please create a new one in the app.",
        "checkout_not_owner": "This invoice was created for another account. Please create your own in the app.",
        "checkout_wrong_currency": "This invoice can only be paid in Telegram Stars.",
        "checkout_wrong_amount": "The amount does not match the order. Please create a new invoice in the app.",
        "checkout_expired": "This invoice has expired. Please create a new one in the app.",
        "checkout_already_paid": "This invoice has already been paid; your Stars are on your balance. No need to pay again.",
        "checkout_refunded": "This order was refunded. Please create a new invoice in the app.",
        "checkout_failed": "This invoice could not be set up. Please create a new one in the app.",
        "paysupport": (
            "Payment support\n\n{payments}\n\n{outcome}\n\n"
            "If a payment is missing or wrong, send /paysupport followed by what happened "
            "and the charge id above. Please do not pay again for the same package while "
            "we look into it."
        ),
        "paysupport_passed": "Your request has been passed to our support team{contact}.",
        "paysupport_not_passed": "We could not pass your request on to our support team just now. Please try again in a few minutes.",
        "paysupport_not_passed_contact": "We could not pass your request on to our support team just now. Please write to {contact}.",
        "paysupport_throttled": "Our support team already has your request from a few minutes ago. You can send another one in {minutes} min.",
        "paysupport_cut": "… (cut to fit one message)",
        "paysupport_none": "We have no payments from you yet.",
        "paysupport_line": "{date}: {amount} ⭐, {status}, charge {charge}",
        "paysupport_forward": "Payment support request from {name} (id {user_id}):\n{text}\n\nRecent payments:\n{payments}",
        "privacy": (
            "Privacy policy\n\nWe store your Telegram id, name, username, language and your "
            "payments so that we can credit them and help you with them. We share nothing "
            "with third parties. To have your data removed, write to /paysupport."
        ),
        "terms": (
            "Terms of service\n\nStars bought here are credited to your balance in our app "
            "as soon as Telegram confirms the payment. If a purchase cannot be delivered, "
            "we refund the Stars in full. For problems with a payment, use /paysupport."
        ),
        "status_credited": "credited",
        "status_refunded": "refunded",
        "refund_usage": "Usage: /refund <charge_id> [force]",
        "refund_not_admin": "Sorry, only the bot's administrators can make refunds.",
        "refund_unknown": "No payment with charge id {charge_id} is on our ledger.",
        "refund_done_before": "Charge {charge_id} was already refunded.",
        "refund_low_balance": (
            "User {user_id} has {balance} ⭐ but the charge was {amount} ⭐. "
            "Add force to refund anyway: /refund {charge_id} force"
        ),
        "refund_recorded": "Refunded {amount} ⭐ of charge {charge_id} to user {user_id}; their balance is now {balance} ⭐.",
        "refund_bot_balance_low": (
            "The bot holds {bot_balance} ⭐, fewer than the {amount} ⭐ of charge {charge_id}, and "
            "refunds are paid from the bot's own Stars. Nothing was changed; try again once "
            "the bot's balance covers it."
        ),
        "refund_failed": "Telegram refused the refund of {charge_id}: {error}. Nothing was changed.",
        "refund_unknown_outcome": (
            "Telegram did not answer about the refund of {charge_id} ({error}). It may or may "
            "not have gone through; reconciliation will record it if it did. Try again later."
        ),
        "database_unavailable": "Sorry, something went wrong on our side. Please try again in a minute.",
        "digest": (
            "Stars digest for {day} ({timezone})\n\n"
            "Received: {received} ⭐ ({payments} payments)\n"
            "Refunded: {refunded} ⭐\n"
            "Spent in the app: {spent} ⭐\n"
            "Adjusted by hand: {adjusted} ⭐\n"
            "The bot's own Stars now: {own}\n\n"
            "{check}"
        ),
        "digest_own_unknown": "could not be read",
        "digest_check_ok": "check: all invariants hold.",
        "digest_check_failed": "check: {count} problems. First ones:\n{problems}\nRun `run_bot.py check` on the server.",
    },
    "ru": {
        "start": (
            "Привет! Этот бот пополняет ваш баланс в нашем приложении звёздами Telegram.\n\n"
            "Откройте приложение, выберите пакет и оплатите звёздами: баланс обновится, "
            "как только Telegram подтвердит платёж.\n\n"
            "/balance — ваш баланс\n/paysupport — помощь с платежом\n"
            "/privacy — политика конфиденциальности\n/terms — условия использования"
        ),
        "open_app": "Открыть приложение",
        "open_private": "Открыть личный чат",
        "private_only": "Платежи — дело личное: пожалуйста, отправьте {command} мне в личном чате.",
        "balance": "Ваш баланс: {balance} ⭐",
        "credited": "Платёж получен: начислено {amount} ⭐. Ваш баланс: {balance} ⭐.",
        "recovered": (
            "Мы нашли платёж на {amount} ⭐, который не дошёл до баланса; теперь он "
            "зачислен. Ваш баланс: {balance} ⭐. Простите за задержку."
        ),
        "refunded": "Вам возвращено {amount} ⭐. Ваш баланс: {balance} ⭐.",
        "checkout_try_again": "Не удалось проверить заказ. Пожалуйста, попробуйте ещё раз через минуту.",
        "checkout_unknown_order": "Этот счёт не наш. Пожалуйста, создайте новый в приложении.",
        "checkout_not_owner": "Этот счёт создан для другого аккаунта. Пожалуйста, создайте свой в приложении.",
        "checkout_wrong_currency": "Этот счёт можно оплатить только звёздами Telegram.",
        "checkout_wrong_amount": "Сумма не совпадает с заказом. Пожалуйста, создайте новый счёт в приложении.",
        "checkout_expired": "Срок действия счёта истёк. Пожалуйста, создайте новый в приложении.",
        "checkout_already_paid": "Этот счёт уже оплачен, звёзды на вашем балансе. Платить ещё раз не нужно.",
        "checkout_refunded": "По этому заказу сделан возврат. Пожалуйста, создайте новый счёт в приложении.",
        "checkout_failed": "Этот счёт не удалось оформить. Пожалуйста, создайте новый в приложении.",
        "paysupport": (
            "Поддержка по платежам\n\n{payments}\n\n{outcome}\n\n"
            "Если платёж не дошёл или прошёл неверно, отправьте /paysupport и после команды "
            "опишите, что случилось, и укажите номер платежа выше. Пожалуйста, не "
            "оплачивайте тот же пакет повторно, пока мы разбираемся."
        ),
        "paysupport_passed": "Ваш запрос передан в поддержку{contact}.",
        "paysupport_not_passed": "Не удалось передать ваш запрос в поддержку. Пожалуйста, попробуйте через несколько минут.",
        "paysupport_not_passed_contact": "Не удалось передать ваш запрос в поддержку. Пожалуйста, напишите {contact}.",
        "paysupport_throttled": "Ваш запрос уже передан в поддержку несколько минут назад. Новый можно отправить через {minutes} мин.",
        "paysupport_cut": "… (обрезано, чтобы уместить в одно сообщение)",
        "paysupport_none": "От вас пока не было платежей.",
        "paysupport_line": "{date}: {amount} ⭐, {status}, платёж {charge}",
        "paysupport_forward": "Запрос в поддержку от {name} (id {user_id}):\n{text}\n\nПоследние платежи:\n{payments}",
        "privacy": (
            "Политика конфиденциальности\n\nМы храним ваш id в Telegram, имя, username, язык "
            "и платежи, чтобы зачислять их и помогать с ними. Мы ничего не передаём третьим "
            "лицам. Чтобы удалить данные, напишите в /paysupport."
        ),
        "terms": (
            "Условия использования\n\nКупленные здесь звёзды зачисляются на баланс в нашем "
            "приложении, как только Telegram подтвердит платёж. Если покупку нельзя "
            "выполнить, мы полностью возвращаем звёзды. С проблемами по платежам — /paysupport."
        ),
        "status_credited": "зачислен",
        "status_refunded": "возвращён",
        "refund_usage": "Использование: /refund <charge_id> [force]",
        "refund_not_admin": "Извините, возвраты могут делать только администраторы бота.",
        "refund_unknown": "Платежа с номером {charge_id} в нашем журнале нет.",
        "refund_done_before": "По платежу {charge_id} уже сделан возврат.",
        "refund_low_balance": (
            "У пользователя {user_id} на балансе {balance} ⭐, а платёж был на {amount} ⭐. "
            "Чтобы вернуть всё равно, добавьте force: /refund {charge_id} force"
        ),
        "refund_recorded": "Возвращено {amount} ⭐ по платежу {charge_id} пользователю {user_id}; его баланс: {balance} ⭐.",
        "refund_bot_balance_low": (
            "У бота {bot_balance} ⭐, это меньше {amount} ⭐ по платежу {charge_id}, а возвраты "
            "оплачиваются из звёзд самого бота. Ничего не изменено; повторите, когда звёзд "
            "у бота хватит."
        ),
        "refund_failed": "Telegram отказал в возврате {charge_id}: {error}. Ничего не изменено.",
        "refund_unknown_outcome": (
            "Telegram не ответил про возврат {charge_id} ({error}). Возврат мог пройти или нет; "
            "если прошёл, сверка его запишет. Попробуйте позже."
        ),
        "database_unavailable": "Извините, у нас что-то пошло не так. Пожалуйста, попробуйте через минуту.",
        "digest": (
            "Сводка по звёздам за {day} ({timezone})\n\n"
            "Получено: {received} ⭐ (платежей: {payments})\n"
            "Возвращено: {refunded} ⭐\n"
            "Потрачено в приложении: {spent} ⭐\n"
            "Исправлено вручную: {adjusted} ⭐\n"
            "Звёзд у самого бота сейчас: {own}\n\n"
            "{check}"
        ),
        "digest_own_unknown": "не удалось узнать",
        "digest_check_ok": "проверка: все инварианты соблюдены.",
        "digest_check_failed": "проверка: проблем — {count}. Первые:\n{problems}\nЗапустите `run_bot.py check` на сервере.",
    },
}


def text(code: str | None, key: str, **values: object) -> str:
    return render(CATALOG, code, key, **values)


COMMANDS: dict[str, list[tuple[str, str]]] = {
    "en": [
        ("start", "What this bot does"),
        ("balance", "Your Stars balance"),
        ("paysupport", "Help with a payment"),
        ("privacy", "Privacy policy"),
        ("terms", "Terms of service"),
    ],
    "ru": [
        ("start", "Что умеет бот"),
        ("balance", "Баланс звёзд"),
        ("paysupport", "Помощь с платежом"),
        ("privacy", "Политика конфиденциальности"),
        ("terms", "Условия использования"),
    ],
}
