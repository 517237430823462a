"""A throwaway PostgreSQL cluster from Debian's binaries, for tests that need a
real server (and, in the outage drill, one they can stop and start)."""
from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

PG_BIN_DIRS = [Path(os.environ.get("HOTLINE_PG_BIN", "/usr/lib/postgresql/15/bin"))]
PG_BIN_DIRS += sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def pg_bin() -> Path | None:
    for directory in PG_BIN_DIRS:
        if (directory / "pg_ctl").exists() and (directory / "initdb").exists():
            return directory
    return None


def _as_postgres(args: list[str]) -> list[str]:
    # PostgreSQL refuses to run as root.
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args


class PgCluster:
    """initdb once, then start/stop at will; `url` is the server's base URL.

    As production should run: over TCP only with a password (scram-sha-256), as the
    application's own role `hotline` (not a superuser; it may create databases, which
    the tests do), owning database `hotline`. The superuser is reached only through the
    cluster's private socket directory."""

    def __init__(self, bin_dir: Path, fast: bool = True):
        self.bin = bin_dir
        self.root = Path(tempfile.mkdtemp(prefix="hotline-pg-"))
        self.data, self.port = self.root / "data", free_port()
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
        self._options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1"
        if fast:
            self._options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        self.password = "test-" + secrets.token_hex(12)
        self._role_made = False
        subprocess.run(
            _as_postgres([str(bin_dir / "initdb"), "-D", str(self.data), "--auth-local=trust",
                          "--auth-host=scram-sha-256", "-U", "postgres", "-E", "UTF8",
                          "--locale=C", "--no-sync"]),
            check=True, capture_output=True)

    @property
    def url(self) -> str:
        return (f"postgresql+asyncpg://hotline:{self.password}@127.0.0.1:{self.port}"
                "/hotline")

    def start(self) -> None:
        subprocess.run(
            _as_postgres([str(self.bin / "pg_ctl"), "-D", str(self.data), "-l",
                          str(self.root / "log"), "-o", self._options, "-w", "-t", "60", "start"]),
            check=True, capture_output=True)
        if not self._role_made:
            self._psql(f"CREATE ROLE hotline LOGIN CREATEDB PASSWORD '{self.password}'",
                       "CREATE DATABASE hotline OWNER hotline")
            self._role_made = True

    def _psql(self, *statements: str) -> None:
        for statement in statements:
            subprocess.run(
                _as_postgres([str(self.bin / "psql"), "-h", str(self.root), "-p", str(self.port),
                              "-U", "postgres", "-d", "postgres", "-v", "ON_ERROR_STOP=1",
                              "-c", statement]),
                check=True, capture_output=True)

    def stop(self, mode: str = "fast") -> None:
        subprocess.run(_as_postgres([str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode,
                                     "-w", "stop"]), check=False, capture_output=True)

    def destroy(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)
