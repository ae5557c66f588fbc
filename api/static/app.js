// The reference Mini App: balance, packages, Buy, and the user's recent history. The
// invoice's own callback is only a hint (some clients report it wrongly), so after it the
// page asks the backend. The order being paid is remembered until it ends, so a page
// closed or reloaded in the middle of a payment can tell, when it opens again, how that
// payment ended.
"use strict";
// Missing when telegram-web-app.js did not load (no connection to telegram.org, or a
// blocked script): start() then says so instead of leaving a blank card.
const tg = window.Telegram?.WebApp ?? null;
const API = new URL("..", location.href).href.replace(/\/$/, "");
const POLL_EVERY_MS = 1000;
const POLL_FOR_MS = 60000;
const RECHECK_FOR_MS = 3000; // a reopened page waits this long before calling an order open
const REMEMBER_MS = 24 * 60 * 60 * 1000; // the default invoice TTL
const CLOUD_WAIT_MS = 3000;
const HISTORY_SIZE = 10;

const TEXTS = {
  en: {
    balance: "Your balance", choose: "Top up with Telegram Stars", buy: "{n} ⭐",
    creating: "Creating the invoice…", waiting: "Waiting for Telegram to confirm the payment…",
    paid: "Done: {n} ⭐ added to your balance.", cancelled: "Payment cancelled. Nothing was charged.",
    failed: "The payment did not go through. Nothing was charged.",
    adviceTitle: "Not enough Stars?",
    adviceWhy: "That is the usual reason, and Telegram often cannot sell Stars inside a bot's payment window. To fix it:",
    adviceOpen: "In Telegram, open", starsPath: "Settings → My Stars", adviceBuy: "and buy Stars there.",
    adviceRetry: "Come back here and tap “Try again”.",
    retry: "Try again", resume: "Continue paying", dismiss: "Cancel",
    expired: "This invoice has expired. Please try again.",
    refunded: "This payment of {n} ⭐ was refunded.",
    checking: "Checking your last payment…",
    open: "Your payment of {n} ⭐ is still open.",
    slow: "The payment is still being confirmed. Your balance will update by itself.",
    outside: "Open this page from the bot in Telegram.",
    noScript: "This page cannot work: Telegram's Mini App script (telegram-web-app.js) did not load. Check the internet connection and open the page again from the bot in Telegram.",
    network: "No connection to the server. Please try again.",
    history: "Recent activity", historyEmpty: "Nothing here yet. Your top-ups and purchases will show up here.",
    historyError: "Your history could not be loaded just now.", after: "Balance: {n} ⭐",
    kind_topup: "Top-up", kind_refund: "Payment refunded", kind_debit: "Spent",
    kind_debit_reversal: "Returned", kind_dev_credit: "Test credit", kind_adjustment: "Adjustment",
    kind_other: "Other", kind_gift: "Gift", kind_premium: "Premium", kind_gift_sent: "Gift sent",
    kind_gift_reversal: "Gift returned",
    gifts: "Send yourself a gift", giftButton: "{n} ⭐", giftSending: "Sending the gift…",
    giftSent: "The gift is on its way to you.", giftPending: "The gift is being sent. Your balance already shows it.",
    giftFailed: "Telegram could not send the gift. Your Stars are back.",
    giftShort: "Not enough Stars for this gift ({n} ⭐). Top up with a package above first.",
  },
  ru: {
    balance: "Ваш баланс", choose: "Пополнить звёздами Telegram", buy: "{n} ⭐",
    creating: "Создаём счёт…", waiting: "Ждём подтверждения оплаты от Telegram…",
    paid: "Готово: на баланс зачислено {n} ⭐.", cancelled: "Оплата отменена. Ничего не списано.",
    failed: "Оплата не прошла. Ничего не списано.",
    adviceTitle: "Не хватает звёзд?",
    adviceWhy: "Обычно дело в этом, а купить звёзды прямо в окне оплаты бота Telegram часто не даёт. Что сделать:",
    adviceOpen: "Откройте в Telegram", starsPath: "Настройки → Мои звёзды", adviceBuy: "и купите звёзды там.",
    adviceRetry: "Вернитесь сюда и нажмите «Попробовать снова».",
    retry: "Попробовать снова", resume: "Продолжить оплату", dismiss: "Отменить",
    expired: "Срок действия счёта истёк. Попробуйте ещё раз.",
    refunded: "Платёж на {n} ⭐ возвращён.",
    checking: "Проверяем ваш последний платёж…",
    open: "Ваш платёж на {n} ⭐ ещё не завершён.",
    slow: "Платёж ещё подтверждается. Баланс обновится сам.",
    outside: "Откройте эту страницу из бота в Telegram.",
    noScript: "Страница не может работать: не загрузился скрипт Mini App от Telegram (telegram-web-app.js). Проверьте подключение к интернету и снова откройте страницу из бота в Telegram.",
    network: "Нет связи с сервером. Попробуйте ещё раз.",
    history: "Последние операции", historyEmpty: "Здесь пока пусто. Пополнения и покупки появятся здесь.",
    historyError: "Не удалось загрузить историю. Попробуйте позже.", after: "Баланс: {n} ⭐",
    kind_topup: "Пополнение", kind_refund: "Возврат платежа", kind_debit: "Списание",
    kind_debit_reversal: "Отмена списания", kind_dev_credit: "Тестовое зачисление",
    kind_adjustment: "Корректировка", kind_other: "Операция", kind_gift: "Подарок",
    kind_premium: "Premium", kind_gift_sent: "Подарок отправлен", kind_gift_reversal: "Подарок возвращён",
    gifts: "Подарок себе", giftButton: "{n} ⭐", giftSending: "Отправляем подарок…",
    giftSent: "Подарок уже в пути к вам.", giftPending: "Подарок отправляется. Баланс уже учёл его.",
    giftFailed: "Telegram не смог отправить подарок. Звёзды вернулись на баланс.",
    giftShort: "Не хватает звёзд на этот подарок ({n} ⭐). Сначала пополните баланс пакетом выше.",
  },
};
const language = tg ? tg.initDataUnsafe.user?.language_code : navigator.language;
const lang = (language || "").startsWith("ru") ? "ru" : "en";
const t = (key, n) => TEXTS[lang][key].replace("{n}", n);
const $ = (id) => document.getElementById(id);

// Each flow (a purchase, a check of the last payment) takes a number; only the newest one
// may write to the page, so an old poll never overwrites what a newer one said.
let flow = 0;
let packageButtons = [];

function show(text, kind = "") {
  $("status").textContent = text;
  $("status").className = kind;
  $("advice").hidden = true;
  $("actions").replaceChildren();
}

function offer(actions) {
  $("actions").replaceChildren(
    ...actions.map(([label, onClick, kind = ""]) => {
      const button = document.createElement("button");
      button.textContent = t(label);
      button.className = kind;
      button.addEventListener("click", onClick);
      return button;
    }),
  );
}

async function api(path, options = {}) {
  let response;
  try {
    response = await fetch(API + path, {
      ...options,
      headers: {
        Authorization: `tma ${tg.initData}`,
        "Content-Type": "application/json",
        ...(options.headers || {}),
      },
    });
  } catch (e) {
    throw new Error(t("network"));
  }
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    // The API's errors carry a sentence meant for people: show it as is.
    const error = new Error(body.error?.message || t("network"));
    error.code = body.error?.code;
    throw error;
  }
  return body;
}

// The order being paid: Telegram's CloudStorage where the client has it (6.9+), so it
// follows the user to another device; localStorage where it has not, or when CloudStorage
// fails or does not answer. The key names the user: one browser may serve two accounts.
const memoryKey = `pending_topup_${tg?.initDataUnsafe.user?.id}`;
const cloud = tg?.isVersionAtLeast("6.9") ? tg.CloudStorage : null;

function cloudCall(method, ...args) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("CloudStorage did not answer")), CLOUD_WAIT_MS);
    const done = (error, value) => {
      clearTimeout(timer);
      if (error) reject(new Error(`CloudStorage: ${error}`));
      else resolve(value);
    };
    try {
      cloud[method](...args, done);
    } catch (error) {
      done(error.message);
    }
  });
}

function local(method, ...args) {
  try {
    return localStorage[method](memoryKey, ...args);
  } catch (e) {
    return null; // storage switched off (private mode, blocked third-party storage)
  }
}

async function remember(order) {
  const value = JSON.stringify(order);
  if (cloud) {
    try {
      return await cloudCall("setItem", memoryKey, value);
    } catch (error) {
      console.warn(error.message);
    }
  }
  local("setItem", value);
}

async function recall() {
  const saved = (cloud && (await cloudCall("getItem", memoryKey).catch(() => ""))) || local("getItem");
  try {
    const order = JSON.parse(saved);
    const valid = typeof order?.id === "string" && typeof order.url === "string";
    if (valid && order.amount > 0 && order.at > 0) return order;
  } catch (e) {}
  if (saved) await forget();
  return null;
}

async function forget() {
  if (cloud) await cloudCall("removeItem", memoryKey).catch((error) => console.warn(error.message));
  local("removeItem");
}

async function refreshBalance() {
  const me = await api("/me");
  $("balance").textContent = me.stars_balance;
}

// History. Everything in an entry is put on the page as text: a debit's reason comes from
// the app's backend, which may pass on whatever its users typed.
const dateFormat = new Intl.DateTimeFormat(lang, { dateStyle: "medium", timeStyle: "short" });

function textElement(tag, className, text) {
  const el = document.createElement(tag);
  el.className = className;
  el.textContent = text;
  return el;
}

// New kinds may appear in the ledger before this page knows them: they get a neutral name.
const known = (key) => Object.prototype.hasOwnProperty.call(TEXTS[lang], key);
const kindName = (kind) => t(known(`kind_${kind}`) ? `kind_${kind}` : "kind_other");
const signed = (amount) => `${amount > 0 ? "+" : amount < 0 ? "−" : ""}${Math.abs(amount)} ⭐`;

function entryRow(entry) {
  const row = document.createElement("li");
  row.className = "entry";
  row.dataset.kind = entry.kind;
  const what = document.createElement("div");
  what.className = "what";
  what.append(textElement("span", "kind", kindName(entry.kind)));
  if (typeof entry.reason === "string") what.append(textElement("span", "reason", entry.reason));
  const at = new Date(entry.created_at);
  const valid = !Number.isNaN(at.getTime());
  const date = textElement("time", "when", valid ? dateFormat.format(at) : "");
  if (valid) date.dateTime = entry.created_at;
  what.append(date);
  const sign = entry.amount < 0 ? "minus" : "plus";
  const amount = textElement("span", `amount ${sign}`, signed(entry.amount));
  const money = document.createElement("div");
  money.className = "money";
  money.append(amount, textElement("span", "after", t("after", entry.stars_balance_after)));
  row.append(what, money);
  return row;
}

// Never throws: a history that cannot be loaded says so in its own place, and the
// balance and the packages work as before. Only the newest load writes to the page.
let historyLoad = 0;
async function refreshHistory() {
  const mine = ++historyLoad;
  $("history").hidden = false;
  let rows = null;
  try {
    const { entries } = await api(`/me/ledger?limit=${HISTORY_SIZE}`);
    rows = entries.map(entryRow);
  } catch (error) {
    console.warn("history:", error.message);
  }
  if (mine !== historyLoad) return;
  $("entries").replaceChildren(...(rows || []));
  $("history-empty").hidden = rows === null || rows.length > 0;
  $("history-error").hidden = rows !== null;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function waitForPayment(id, forMs, mine) {
  const until = Date.now() + forMs;
  for (;;) {
    const payment = await api(`/payments/${id}`);
    if (payment.status !== "pending" || Date.now() > until || mine !== flow) return payment.status;
    await sleep(POLL_EVERY_MS);
  }
}

// Runs a purchase step with the package buttons disabled; a newer flow silences its errors.
async function run(step) {
  const mine = ++flow;
  packageButtons.forEach((b) => (b.disabled = true));
  try {
    await step(mine);
  } catch (error) {
    if (mine === flow) show(error.message, "error");
  } finally {
    packageButtons.forEach((b) => (b.disabled = false));
  }
}

const buy = (amount) =>
  run(async (mine) => {
    show(t("creating"));
    const created = await api("/payments/top-up", { method: "POST", body: JSON.stringify({ amount }) });
    const order = {
      id: created.payment_id, amount, url: created.invoice_url,
      at: Date.now(), expires: Date.parse(created.expires_at) || 0,
    };
    await pay(order, mine);
  });

async function pay(order, mine) {
  await remember(order);
  const closed = await new Promise((resolve) => tg.openInvoice(order.url, resolve));
  if (mine !== flow) return;
  show(t("waiting"));
  // After "cancelled" or "failed" look briefly anyway: the callback has been wrong before.
  const quick = closed === "cancelled" || closed === "failed";
  const status = await waitForPayment(order.id, quick ? 2000 : POLL_FOR_MS, mine);
  if (mine === flow) await conclude(order, status, closed);
}

// Says how an order ended and forgets it once it has. `closed` is what the payment sheet
// reported, or null when this page did not see the sheet close.
async function conclude(order, status, closed) {
  if (status === "paid") {
    show(t("paid", order.amount), "ok");
    tg.HapticFeedback?.notificationOccurred("success");
  } else if (status === "refunded") show(t("refunded", order.amount));
  else if (status === "expired") show(t("expired"), "error");
  else if (status === "failed") show(t("failed"), "error");
  else if (closed === "failed") adviseBuyingStars(order.amount);
  else if (closed === "cancelled") show(t("cancelled"));
  else show(t("slow")); // Telegram said paid; the bot has not confirmed yet: keep remembering
  if (status !== "pending" || closed === "cancelled" || closed === "failed") await forget();
  await Promise.all([refreshBalance(), refreshHistory()]);
}

// A failed Stars payment is nearly always a buyer with too few Stars whom Telegram would not
// sell more inside the bot's sheet (PROVIDER_ACCOUNT_INVALID): buying in Telegram works.
function adviseBuyingStars(amount) {
  show(t("failed"), "error");
  $("advice").hidden = false;
  offer([["retry", () => buy(amount)]]);
}

// On opening: an order remembered from a page that closed before it saw the end.
async function checkLastPayment() {
  const order = await recall();
  if (!order) return;
  if (Date.now() - order.at > REMEMBER_MS && !(Date.now() < order.expires)) return forget();
  const mine = ++flow;
  show(t("checking"));
  try {
    let status = await waitForPayment(order.id, RECHECK_FOR_MS, mine);
    if (mine !== flow) return;
    if (status !== "pending") return await conclude(order, status, null);
    show(t("open", order.amount));
    offer([
      ["resume", () => run((next) => pay(order, next))],
      ["dismiss", () => run(() => dismiss()), "secondary"],
    ]);
    // The sheet may still be open in Telegram: keep watching, so paying there shows up here.
    status = await waitForPayment(order.id, POLL_FOR_MS, mine);
    if (mine === flow && status !== "pending") await conclude(order, status, null);
  } catch (error) {
    if (error.code === "payment_not_found") {
      // Not this user's (an account switched on a shared device) or long gone: drop it quietly.
      await forget();
      if (mine === flow) show("");
    } else if (mine === flow) show(error.message, "error");
  }
}

// The user gives up an open order here; the invoice itself simply expires unpaid.
async function dismiss() {
  await forget();
  show(t("cancelled"));
}

// Gifts: the catalog, and a gift to oneself paid from the balance. Each tap is one
// purchase: its key is made once per tap, and a retry of that tap would send it again.
function giftStatus(text, kind = "") {
  $("gift-status").textContent = text;
  $("gift-status").className = kind;
}

async function sendGift(gift, button) {
  button.disabled = true;
  giftStatus(t("giftSending"));
  try {
    const purchase = await api("/gifts", {
      method: "POST",
      body: JSON.stringify({ gift_id: gift.id, expected_star_count: gift.star_count }),
      headers: { "Idempotency-Key": `mini-app-${crypto.randomUUID()}` },
    });
    const said = { sent: "giftSent", failed: "giftFailed" }[purchase.state] || "giftPending";
    giftStatus(t(said), purchase.state === "failed" ? "error" : "");
    await refreshBalance();
    refreshHistory();
  } catch (error) {
    if (error.code === "insufficient_balance") giftStatus(t("giftShort", gift.star_count), "error");
    else giftStatus(error.message, "error");
  } finally {
    button.disabled = false;
  }
}

async function loadGifts() {
  let catalog;
  try {
    catalog = await api("/gifts");
  } catch (error) {
    return; // no catalog now: the section stays hidden, the rest of the page works
  }
  const buttons = catalog.gifts
    .filter((gift) => !gift.sold_out && !gift.is_premium)
    .map((gift) => {
      const button = document.createElement("button");
      button.textContent = `${gift.emoji || "🎁"} ${t("giftButton", gift.star_count)}`;
      button.dataset.gift = gift.id;
      button.addEventListener("click", () => sendGift(gift, button));
      return button;
    });
  $("gift-list").replaceChildren(...buttons);
  $("gifts").hidden = buttons.length === 0;
}

async function start() {
  if (!tg) {
    document.querySelectorAll("[data-text]").forEach((el) => (el.textContent = t(el.dataset.text)));
    show(t("noScript"), "error");
    return;
  }
  tg.ready();
  tg.expand();
  document.querySelectorAll("[data-text]").forEach((el) => (el.textContent = t(el.dataset.text)));
  document.documentElement.lang = lang;
  if (!tg.initData) {
    show(t("outside"), "error");
    return;
  }
  refreshHistory(); // on its own: its failure is shown in its place and stops nothing else
  loadGifts(); // the same
  try {
    const [{ packages }] = await Promise.all([api("/payments/packages"), refreshBalance()]);
    packageButtons = packages.map((amount) => {
      const button = document.createElement("button");
      button.textContent = t("buy", amount);
      button.dataset.amount = amount;
      button.addEventListener("click", () => buy(amount));
      $("packages").appendChild(button);
      return button;
    });
    await checkLastPayment();
  } catch (error) {
    show(error.message, "error");
  }
}

start();
