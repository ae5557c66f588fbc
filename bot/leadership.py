"""Which worker polls: one lease in the database, held by the leader and renewed.

Telegram allows one getUpdates poller per bot. Any number of `run_bot.py` processes
may share one database (on several machines, or twice on one machine with SQLite):
the one holding the lease polls and runs the background loops, the others stand by
and ask for the lease again every so often.

For a lease of L seconds (`LEADER_LEASE`, 10 by default) the database grants it for L
seconds from each renewal, timed by its own clock (models/infra/leases.py), and:
- the leader renews every L/5 (2 s);
- a leader that has not renewed for 0.75·L (7.5 s), counted on its own monotonic clock
  from the moment it *sent* its last successful renewal, stops polling and cancels the
  long poll in flight: at least L/4 (2.5 s) before anyone else may take the lease;
- a standby asks every L/10 (1 s), so it polls within L + L/10 (11 s) of a leader's
  last renewal when the leader vanishes, and within L/10 (1 s) of a clean stop, which
  releases the lease.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import socket
import time
from asyncio import FIRST_COMPLETED
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

import structlog
from aiogram import Bot
from aiogram.client.session.middlewares.base import (
    BaseRequestMiddleware,
    NextRequestMiddlewareType,
)
from aiogram.methods import GetUpdates, TelegramMethod
from aiogram.methods.base import Response, TelegramType

from models.infra.leases import acquire_lease, holder_of, release_lease

log = structlog.get_logger("bot.leadership")
LEASE = "worker"
# A clean stop does not wait longer than this for the database to take the lease back.
RELEASE_TIMEOUT = 2.0
T = TypeVar("T")


@dataclass(frozen=True)
class LeaseTimes:
    lease: float = 10.0

    @property
    def renew_every(self) -> float:
        return self.lease / 5

    @property
    def retry_every(self) -> float:
        return self.lease / 10

    @property
    def fence_after(self) -> float:
        return self.lease * 0.75


def make_holder() -> str:
    """host:pid names the process for the operator; the suffix tells a restarted process
    from its predecessor when they share a pid (pid 1 in every container)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


class LeaseNotHeld(Exception):
    """A getUpdates this worker may not send, or whose answer it may not act on."""


class Leadership:
    def __init__(self, times: LeaseTimes, *, holder: str | None = None, name: str = LEASE) -> None:
        self.times = times
        self.holder = holder or make_holder()
        self.name = name
        # Monotonic time by which polling must have stopped unless renewed.
        self._valid_until = 0.0
        self._error: str | None = None
        # Database calls that outlived their wait; never awaited, so a hung database
        # cannot hold the worker past its deadline.
        self._stray: set[asyncio.Task[Any]] = set()

    def may_poll(self) -> bool:
        return time.monotonic() < self._valid_until

    async def acquire(self, stop: asyncio.Event) -> bool:
        """Wait until this worker holds the lease (True), or `stop` is set (False)."""
        standing_by = unreachable = False
        while not stop.is_set():
            held = await self._claim(self.times.lease, stop)
            if held:
                log.info("worker.leader_acquired", holder=self.holder, lease=self.times.lease)
                return True
            if stop.is_set():
                break
            if held is None and not unreachable:
                log.warning("worker.lease_unreachable", holder=self.holder, error=self._error)
            elif held is False and not standing_by:
                log.info("worker.standing_by", holder=self.holder, leader=await self._leader())
            standing_by, unreachable = held is False, held is None
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.times.retry_every):
                    await stop.wait()
        return False

    async def keep(self) -> None:
        """Renew while leading; returns as soon as polling must stop."""
        while True:
            left = self._valid_until - time.monotonic()
            await asyncio.sleep(min(self.times.renew_every, max(left, 0.0)))
            left = self._valid_until - time.monotonic()
            if left <= 0:
                log.error(
                    "worker.lease_lost",
                    holder=self.holder,
                    reason="not renewed in time",
                    error=self._error,
                )
                return
            held = await self._claim(left)
            if held is False:  # expired in the database, and someone else took it
                self._valid_until = 0.0
                log.error(
                    "worker.lease_lost",
                    holder=self.holder,
                    reason="taken",
                    leader=await self._leader(),
                )
                return
            if held is None:
                log.warning(
                    "worker.lease_renew_failed",
                    holder=self.holder,
                    error=self._error,
                    polling_stops_in=round(max(self._valid_until - time.monotonic(), 0), 2),
                )

    async def release(self) -> None:
        """Give the lease back after polling stopped, so a standby takes over at once."""
        if await self._give_back():
            log.info("worker.lease_released", holder=self.holder)
        else:
            log.warning("worker.lease_release_failed", holder=self.holder, error=self._error)

    async def close(self) -> None:
        """Before the database closes: a claim still hanging might yet land and hold
        the lease for nothing, so give it back if the database answers; then cancel
        what still hangs."""
        if self._stray:
            await self._give_back()
        for task in self._stray:
            task.cancel()

    async def _give_back(self) -> bool:
        self._valid_until = 0.0

        async def release() -> bool:
            await release_lease(self.name, self.holder)
            return True

        return await self._bounded(release(), RELEASE_TIMEOUT) is not None

    async def _claim(self, timeout: float, stop: asyncio.Event | None = None) -> bool | None:
        """True: held until `sent + fence_after`; False: someone else holds it; None:
        the database did not answer within `timeout`."""
        sent = time.monotonic()
        held = await self._bounded(
            acquire_lease(self.name, self.holder, self.times.lease), timeout, stop
        )
        if held:
            self._valid_until = sent + self.times.fence_after
        return held

    async def _bounded(
        self, call: Coroutine[Any, Any, T], timeout: float, stop: asyncio.Event | None = None
    ) -> T | None:
        """The call's result, or None if it failed, or did not end within `timeout` or
        before `stop` was set."""
        task = asyncio.create_task(call)
        waiters: set[asyncio.Future[Any]] = {task}
        if stop is not None:
            waiters.add(asyncio.ensure_future(stop.wait()))
        await asyncio.wait(waiters, timeout=max(timeout, 0.01), return_when=FIRST_COMPLETED)
        for waiter in waiters - {task}:
            waiter.cancel()
        if not task.done():
            self._error = f"no answer from the database in {timeout:.1f} s"
            self._stray.add(task)
            task.add_done_callback(self._forget)
            return None
        if (error := task.exception()) is not None:
            self._error = repr(error)
            return None
        self._error = None
        return task.result()

    def _forget(self, task: asyncio.Task[Any]) -> None:
        self._stray.discard(task)
        if not task.cancelled():
            task.exception()  # retrieved, so asyncio does not report it as lost

    async def _leader(self) -> str | None:
        return await self._bounded(holder_of(self.name), self.times.retry_every)


class LeaseGate(BaseRequestMiddleware):
    """No getUpdates goes out, and no batch of updates comes in, without the lease.

    Losing the lease cancels polling at once; this covers the moments around it: a
    batch that arrives too late is dropped unconfirmed, so the next leader gets it.
    """

    def __init__(self, leadership: Leadership) -> None:
        self.leadership = leadership

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        polls = isinstance(method, GetUpdates)
        if polls and not self.leadership.may_poll():
            raise LeaseNotHeld("this worker does not hold the polling lease")
        response = await make_request(bot, method)
        if polls and not self.leadership.may_poll():
            raise LeaseNotHeld("the polling lease ended while getUpdates was in flight")
        return response
