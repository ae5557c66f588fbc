"""The event loop both processes run on: uvloop where it is installed (a dependency on
Linux and macOS), else asyncio's own.

Under a burst most of a process's time went to the event loop's socket reads and
writes (each database statement and each Bot API call is one of each); uvloop does
them in C. The benchmark's floors run on the same loop, so the comparison stays fair.
"""

from __future__ import annotations

import asyncio
import gc
import resource
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")
# Container objects allocated (net) before the youngest generation is collected;
# Python's default is 700, which a request or an update reaches by itself.
YOUNG_GENERATION = 20_000


def new_event_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:  # Windows: uvloop does not build there
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def freeze_heap() -> None:
    """Call once start-up is done: what is alive then (the imported libraries, mostly)
    is left out of every later garbage collection.

    aiogram, pydantic and Tortoise leave a few hundred thousand objects that live as
    long as the process; each full collection walked them all, a pause that made up
    the slowest top-up answers under load (p99 140 ms before, 50 ms after).

    Young collections are made rarer too: at the default threshold one ran for about
    every request, walking the objects of every request in flight each time. Garbage
    without cycles is freed at once either way; the rest waits a little longer.
    """
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_GENERATION, older, oldest)


def allow_open_files() -> int:
    """Raise this process's limit on open files to the most it may have; returns it.

    Each request in flight holds a socket to its client and one to Telegram, so the
    defaults (API_MAX_IN_FLIGHT and TELEGRAM_CONNECTIONS of 512) need over a thousand,
    and systemd gives a service 1,024 unless told otherwise (the hard limit is higher).
    Past the limit accept() and connect() fail, which clients see as reset connections.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard if hard != resource.RLIM_INFINITY else max(soft, 65_536)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
        return wanted
    return soft


def run(main: Coroutine[Any, Any, T]) -> T:
    """asyncio.run on the loop above."""
    with asyncio.Runner(loop_factory=new_event_loop) as runner:
        return runner.run(main)
