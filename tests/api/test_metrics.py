"""The API's /metrics moves with what happens."""

from __future__ import annotations

from tests.emulator import BotApiEmulator, Fault
from tests.helpers import ALICE, ApiClient, metric, tma


async def scrape(client: ApiClient) -> str:
    response = await client.get("/metrics")
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    return await response.text()


async def test_top_ups_and_failed_invoices_are_counted(
    client: ApiClient, emulator: BotApiEmulator
) -> None:
    before = await scrape(client)
    await client.post("/payments/top-up", json={"amount": 100}, headers=tma(ALICE))
    emulator.set_fault("createInvoiceLink", Fault("refuse", times=1))
    # Another amount: buying 100 again would give back the open order.
    await client.post("/payments/top-up", json={"amount": 250}, headers=tma(ALICE))
    after = await scrape(client)
    assert (
        metric(after, "stars_orders_opened_total") - metric(before, "stars_orders_opened_total")
        == 2
    )
    assert (
        metric(after, "stars_invoice_failures_total", reason="refused")
        - metric(before, "stars_invoice_failures_total", reason="refused")
        == 1
    )
    assert (
        metric(after, "stars_topup_request_seconds_count")
        - metric(before, "stars_topup_request_seconds_count")
        == 2
    )
    assert "user_id" not in after
