"""A real PgBouncer in transaction mode in front of the test PostgreSQL.

Debian's `pgbouncer` (`.ci/run` installs it). It runs from a config written into a
temporary folder, listens on a free port of 127.0.0.1 and logs in to PostgreSQL as
the user of `TEST_POSTGRES_URL`, any database (each test has its own). Its server pool
is smaller than the clients' pools, so one server connection really does serve several
clients in turn, which is what breaks prepared statements and session state.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

PGBOUNCER = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
SERVER_POOL = 4  # server connections per database: far fewer than one worker's 20 clients


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _unprivileged_user() -> str | None:
    """PgBouncer refuses to run as root; it drops to this user after reading its config."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
        except KeyError:
            continue
        return name
    raise RuntimeError("running as root and no unprivileged user for PgBouncer")


class PgBouncer:
    def __init__(self, server_url: str, folder: Path, pool_size: int = SERVER_POOL) -> None:
        self.server = urlsplit(server_url)
        self.folder = folder
        self.pool_size = pool_size
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None

    @staticmethod
    def available() -> bool:
        return os.access(PGBOUNCER, os.X_OK)

    @property
    def log(self) -> str:
        return (self.folder / "pgbouncer.log").read_text(errors="replace")

    def _config(self) -> str:
        server = self.server
        login = f"host={server.hostname or '127.0.0.1'} port={server.port or 5432}"
        login += f" user={server.username or 'postgres'}"
        if server.password:
            login += f" password={server.password}"
        return "\n".join(
            [
                "[databases]",
                f"* = {login}",
                "[pgbouncer]",
                "listen_addr = 127.0.0.1",
                f"listen_port = {self.port}",
                "unix_socket_dir =",
                # Clients are the tests themselves; the server login is in [databases].
                "auth_type = any",
                "pool_mode = transaction",
                f"default_pool_size = {self.pool_size}",
                "max_client_conn = 2000",
                # Each test drops its database; idle server connections go soon after.
                "server_idle_timeout = 10",
                "log_connections = 0",
                "log_disconnections = 0",
                "",
            ]
        )

    def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.port = _free_port()
        config = self.folder / "pgbouncer.ini"
        config.write_text(self._config())
        user = _unprivileged_user()
        command = [PGBOUNCER, *(["-u", user] if user else []), str(config)]
        with open(self.folder / "pgbouncer.log", "wb") as log:
            self._process = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=log, stderr=log
            )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"pgbouncer exited at start:\n{self.log[-2000:]}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"pgbouncer did not listen:\n{self.log[-2000:]}")

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()

    def url(self, database: str) -> str:
        """The database through the pooler, marked as the application expects."""
        server = self.server
        auth = server.netloc.rsplit("@", 1)[0] + "@" if "@" in server.netloc else ""
        return urlunsplit(
            ("postgres", f"{auth}127.0.0.1:{self.port}", f"/{database}", "pgbouncer=true", "")
        )
