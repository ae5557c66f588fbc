"""Leases for background jobs, held by names the host decides."""

from __future__ import annotations

from models.infra.jobs import load_cursor, save_cursor
from models.infra.leases import acquire_lease, release_lease

# A Kubernetes pod name is up to 63 characters; the holder is "<host>:<pid>".
POD_HOLDER = "stars-bot-" + "a" * 53 + ":4194304"


async def test_a_holder_named_after_a_long_pod_name_takes_and_uses_the_lease(db: str) -> None:
    assert len(POD_HOLDER) > 64
    assert await acquire_lease("reconcile", POD_HOLDER, 60)
    assert not await acquire_lease("reconcile", "other-host:1", 60)
    await save_cursor("reconcile", POD_HOLDER, {"watermark": 1})
    assert await load_cursor("reconcile") == {"watermark": 1}
    await release_lease("reconcile", POD_HOLDER)
    assert await acquire_lease("reconcile", "other-host:1", 60)
