"""The API's fixtures: a real aiohttp server per test, the test owning the database."""

from __future__ import annotations

from typing import Any

import pytest

from api.app import create_app
from models.infra.settings import Settings
from tests.emulator import BotApiEmulator
from tests.helpers import ApiClient, ClientFactory, make_settings


@pytest.fixture
def api_settings(emulator: BotApiEmulator) -> Settings:
    return make_settings(telegram_api_url=emulator.url, topup_max_pending=1000)


@pytest.fixture
async def make_client(db: str, emulator: BotApiEmulator, aiohttp_client: Any) -> ClientFactory:
    """A real aiohttp server for the API, the test owning the database context."""

    async def factory(**overrides: Any) -> ApiClient:
        settings = make_settings(
            **{"telegram_api_url": emulator.url, "topup_max_pending": 1000, **overrides}
        )
        client: ApiClient = await aiohttp_client(create_app(settings, init_orm=False))
        return client

    return factory


@pytest.fixture
async def client(make_client: ClientFactory) -> ApiClient:
    return await make_client()
