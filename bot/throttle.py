"""At most one go per key per window, in this process's memory (one worker per token)."""

from __future__ import annotations

import time


class Throttle:
    def __init__(self, window: float, *, size: int = 100_000) -> None:
        self.window = window
        self.size = size
        self._last: dict[int, float] = {}

    def take(self, key: int) -> float:
        """0 when `key` may go now (the go is taken), else the seconds left to wait."""
        now = time.monotonic()
        last = self._last.get(key)
        if last is not None and (left := last + self.window - now) > 0:
            return left
        if len(self._last) >= self.size:  # forget whoever may go again anyway
            self._last = {k: t for k, t in self._last.items() if now - t < self.window}
        self._last[key] = now
        return 0.0

    def give_back(self, key: int) -> None:
        """The go was not used after all (nothing happened): the key may go again."""
        self._last.pop(key, None)
