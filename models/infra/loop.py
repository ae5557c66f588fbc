"""The event loop both processes run on: uvloop where it is installed (a dependency on
Linux and macOS), else asyncio's own.

Under a burst most of a process's time went to the event loop's socket reads and
writes (each database statement and each Bot API call is one of each); uvloop does
them in C. The benchmark's floors run on the same loop, so the comparison stays fair.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


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
    """
    gc.collect()
    gc.freeze()


def run(main: Coroutine[Any, Any, T]) -> T:
    """asyncio.run on the loop above."""
    with asyncio.Runner(loop_factory=new_event_loop) as runner:
        return runner.run(main)
