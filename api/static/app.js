// The reference Mini App: balance, packages, Buy. The invoice's own callback is only a
// hint (some clients report it wrongly), so after it the page asks the backend.
"use strict";
const tg = window.Telegram.WebApp;
const API = new URL("..", location.href).href.replace(/\/$/, "");
const POLL_EVERY_MS = 1000;
const POLL_FOR_MS = 60000;

const TEXTS = {
  en: {
    balance: "Your balance", choose: "Top up with Telegram Stars", buy: "{n} ⭐",
    creating: "Creating the invoice…", waiting: "Waiting for Telegram to confirm the payment…",
    paid: "Done: {n} ⭐ added to your balance.", cancelled: "Payment cancelled. Nothing was charged.",
    failed: "The payment did not go through. Nothing was charged.",
    expired: "This invoice has expired. Please try again.",
    slow: "The payment is still being confirmed. Your balance will update by itself.",
    outside: "Open this page from the bot in Telegram.", network: "No connection to the server. Please try again.",
  },
  ru: {
    balance: "Ваш баланс", choose: "Пополнить звёздами Telegram", buy: "{n} ⭐",
    creating: "Создаём счёт…", waiting: "Ждём подтверждения оплаты от Telegram…",
    paid: "Готово: на баланс зачислено {n} ⭐.", cancelled: "Оплата отменена. Ничего не списано.",
    failed: "Оплата не прошла. Ничего не списано.",
    expired: "Срок действия счёта истёк. Попробуйте ещё раз.",
    slow: "Платёж ещё подтверждается. Баланс обновится сам.",
    outside: "Откройте эту страницу из бота в Telegram.", network: "Нет связи с сервером. Попробуйте ещё раз.",
  },
};
const lang = (tg.initDataUnsafe.user?.language_code || "").startsWith("ru") ? "ru" : "en";
const t = (key, n) => TEXTS[lang][key].replace("{n}", n);

function show(text, kind = "") {
  const status = document.getElementById("status");
  status.textContent = text;
  status.className = kind;
}

async function api(path, options = {}) {
  let response;
  try {
    response = await fetch(API + path, {
      ...options,
      headers: { Authorization: `tma ${tg.initData}`, "Content-Type": "application/json" },
    });
  } catch (e) {
    throw new Error(t("network"));
  }
  const body = await response.json().catch(() => ({}));
  // The API's errors carry a sentence meant for people: show it as is.
  if (!response.ok) throw new Error(body.error?.message || t("network"));
  return body;
}

async function refreshBalance() {
  const me = await api("/me");
  document.getElementById("balance").textContent = me.stars_balance;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function waitForPayment(id, forMs) {
  const until = Date.now() + forMs;
  for (;;) {
    const payment = await api(`/payments/${id}`);
    if (payment.status !== "pending" || Date.now() > until) return payment.status;
    await sleep(POLL_EVERY_MS);
  }
}

async function buy(amount, buttons) {
  buttons.forEach((b) => (b.disabled = true));
  try {
    show(t("creating"));
    const order = await api("/payments/top-up", { method: "POST", body: JSON.stringify({ amount }) });
    const closed = await new Promise((resolve) => tg.openInvoice(order.invoice_url, resolve));
    show(t("waiting"));
    // After "cancelled" or "failed" look briefly anyway: the callback has been wrong before.
    const quick = closed === "cancelled" || closed === "failed";
    const status = await waitForPayment(order.payment_id, quick ? 2000 : POLL_FOR_MS);
    if (status === "paid") {
      show(t("paid", amount), "ok");
      tg.HapticFeedback?.notificationOccurred("success");
    } else if (status === "expired") show(t("expired"), "error");
    else if (status === "pending" && !quick) show(t("slow"));
    else show(t(closed === "failed" ? "failed" : "cancelled"), closed === "failed" ? "error" : "");
    await refreshBalance();
  } catch (error) {
    show(error.message, "error");
  } finally {
    buttons.forEach((b) => (b.disabled = false));
  }
}

async function start() {
  tg.ready();
  tg.expand();
  document.querySelectorAll("[data-text]").forEach((el) => (el.textContent = t(el.dataset.text)));
  document.documentElement.lang = lang;
  if (!tg.initData) {
    show(t("outside"), "error");
    return;
  }
  try {
    const [{ packages }] = await Promise.all([api("/payments/packages"), refreshBalance()]);
    const box = document.getElementById("packages");
    const buttons = packages.map((amount) => {
      const button = document.createElement("button");
      button.textContent = t("buy", amount);
      button.dataset.amount = amount;
      button.addEventListener("click", () => buy(amount, buttons));
      box.appendChild(button);
      return button;
    });
  } catch (error) {
    show(error.message, "error");
  }
}

start();
