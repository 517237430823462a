"""The lab's Redis on Sentinel: a replica and three Sentinels next to the primary.

`hotline lab up --redis sentinel` starts them; the controller is then given the
Sentinel URL (`lab/accounts.toml`, `[redis] sentinel_url`) and finds the primary through
the Sentinels, so a drill can kill the primary and watch the replica take over.

Every member runs from its own configuration file (owner-only: it holds the password
the replica and the Sentinels log in with), never with a password on its command line.
A member that comes back after a failover finds the new primary through the Sentinels,
which make it a replica.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

from services.redis_link import parse_sentinel
from telephony.lab.processes import ProcessBook
from telephony.lab.runtime import say
from telephony.settings import lab_accounts

SENTINEL_NAMES = ("sentinel-1", "sentinel-2", "sentinel-3")
QUORUM = 2
DOWN_AFTER_MS = 1000      # a primary silent this long is down: failover in ~2 s
FAILOVER_TIMEOUT_MS = 4000

# ACL rules of the two service users (Redis's documented minimums)
REPLICATION_RULES = "+psync +replconf +ping"
SENTINEL_RULES = ("allchannels +multi +slaveof +replicaof +ping +exec +subscribe "
                  "+config|rewrite +role +publish +info +client|setname +client|kill "
                  "+script|kill")


@dataclass(frozen=True)
class Member:
    name: str          # in the process book
    host: str
    port: int


class RedisHa:
    """Starts, finds and stops the lab's replica and Sentinels (the primary is the lab's
    usual Redis, `Lab.start_redis`)."""

    def __init__(self, book: ProcessBook, lab_dir: Path, primary_url: str):
        self._book, self._dir = book, lab_dir / "redis-ha"
        account = lab_accounts()["redis"]
        url = urlparse(primary_url)
        self.user = unquote(url.username or account["user"])
        self.password = unquote(url.password or account["password"])
        self.primary = Member("redis", url.hostname or "127.0.0.1", url.port or 6379)
        host, _, port = account["replica"].rpartition(":")
        self.replica = Member("redis-replica", host, int(port))
        self.sentinel_url = account["sentinel_url"]
        address = parse_sentinel(self.sentinel_url)
        assert address is not None, "[redis] sentinel_url must be a redis+sentinel:// URL"
        self.service = address.service
        self.sentinels = tuple(Member(name, host, port)
                               for name, (host, port) in zip(SENTINEL_NAMES, address.sentinels,
                                                             strict=True))
        self.replication_user = account["replication_user"]
        self.sentinel_user = account["sentinel_user"]

    def acl_lines(self) -> list[str]:
        """The service users the primary's ACL file holds, so that a replica can sync and a
        Sentinel can watch and reconfigure it."""
        return [f"user {self.replication_user} on >{self.password} {REPLICATION_RULES}",
                f"user {self.sentinel_user} on >{self.password} {SENTINEL_RULES}"]

    @property
    def running(self) -> bool:
        return any(self._book.running(s.name) for s in self.sentinels)

    # ---- start and stop -------------------------------------------------------------
    def start(self, server: str, acl: Path) -> None:
        """The replica of the running primary, then the three Sentinels watching it."""
        self._dir.mkdir(parents=True, exist_ok=True)
        if not self._book.running(self.replica.name):
            self.start_server(self.replica, server, acl, replica_of=self.primary)
        for sentinel in self.sentinels:
            if self._book.running(sentinel.name):
                continue
            conf = self._write_conf(sentinel.name, [
                f"bind {sentinel.host}", f"port {sentinel.port}",
                f"dir {self._dir}",
                # on loopback the source address of a connection is 127.0.0.1, not the
                # address each member listens on: say where to reach us
                f"sentinel announce-ip {sentinel.host}",
                f"sentinel announce-port {sentinel.port}",
                f"sentinel monitor {self.service} {self.primary.host} {self.primary.port} "
                f"{QUORUM}",
                f"sentinel auth-user {self.service} {self.sentinel_user}",
                f"sentinel auth-pass {self.service} {self.password}",
                f"sentinel down-after-milliseconds {self.service} {DOWN_AFTER_MS}",
                f"sentinel failover-timeout {self.service} {FAILOVER_TIMEOUT_MS}",
                f"sentinel parallel-syncs {self.service} 1",
                f"requirepass {self.password}",
                f"sentinel sentinel-pass {self.password}",
            ])
            proc = self._book.start(sentinel.name, [server, str(conf), "--sentinel"],
                                    self._dir.parent / f"{sentinel.name}.log")
            say(f"redis: {sentinel.name} started (pid {proc.pid}) on "
                f"{sentinel.host}:{sentinel.port}")

    def start_server(self, member: Member, server: str, acl: Path,
                     replica_of: Member | None = None) -> None:
        """One Redis server from its own configuration file: the replica, or the primary
        coming back after a failover (the Sentinels then make it a replica)."""
        data = self._dir / member.name
        data.mkdir(parents=True, exist_ok=True)
        lines = [f"bind {member.host}", f"port {member.port}", f"dir {data}",
                 "appendonly yes", "appendfsync everysec", 'save ""', "protected-mode yes",
                 f"aclfile {acl}", "daemonize no",
                 f"masteruser {self.replication_user}", f"masterauth {self.password}",
                 f"replica-announce-ip {member.host}", f"replica-announce-port {member.port}"]
        if replica_of:
            lines.append(f"replicaof {replica_of.host} {replica_of.port}")
        conf = self._write_conf(member.name, lines)
        proc = self._book.start(member.name, [server, str(conf)],
                                self._dir.parent / f"{member.name}.log")
        role = f"replica of {replica_of.host}:{replica_of.port}" if replica_of else "server"
        say(f"redis: {member.name} started as {role} (pid {proc.pid}) on "
            f"{member.host}:{member.port}")

    def stop(self) -> None:
        for name in (*SENTINEL_NAMES, self.replica.name):
            if self._book.stop(name):
                say(f"redis: {name} stopped")

    def _write_conf(self, name: str, lines: list[str]) -> Path:
        path = self._dir / f"{name}.conf"
        path.touch(mode=0o600)
        path.chmod(0o600)
        path.write_text("\n".join(lines) + "\n")
        return path

    # ---- what the Sentinels say -----------------------------------------------------
    def _ask(self, *command: str) -> object:
        import redis

        for sentinel in self.sentinels:
            try:
                client = redis.Redis(host=sentinel.host, port=sentinel.port,
                                     password=self.password, socket_timeout=1.0,
                                     socket_connect_timeout=1.0)
                with client:
                    return client.execute_command(*command)
            except redis.RedisError:
                continue
        return None

    def primary_address(self) -> str | None:
        """host:port of the primary the Sentinels agree on now, or None."""
        answer = self._ask("SENTINEL", "GET-MASTER-ADDR-BY-NAME", self.service)
        if not answer:
            return None
        host, port = (part.decode() if isinstance(part, bytes) else str(part)
                      for part in answer)  # type: ignore[union-attr]
        return f"{host}:{port}"

    def replicas_seen(self) -> int:
        """How many replicas the Sentinels know to be in sync-able shape."""
        answer = self._ask("SENTINEL", "REPLICAS", self.service) or []
        return len(answer)  # type: ignore[arg-type]

    def sentinels_seen(self) -> int:
        """How many other Sentinels the first answering Sentinel knows (2 when all agree)."""
        answer = self._ask("SENTINEL", "SENTINELS", self.service) or []
        return len(answer)  # type: ignore[arg-type]

    def wait_ready(self, timeout: float = 30.0) -> float:
        """Until the Sentinels know the primary, the replica and each other: only then can
        they fail over."""
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            if (self.primary_address() and self.replicas_seen() >= 1
                    and self.sentinels_seen() >= len(self.sentinels) - 1):
                return time.monotonic() - t0
            time.sleep(0.2)
        raise RuntimeError(f"the Sentinels did not see the primary, the replica and each other "
                           f"within {timeout:.0f}s (logs: {self._dir.parent}/sentinel-*.log)")

    def failover(self) -> None:
        """A planned switch of primary (SENTINEL FAILOVER), e.g. back after a drill."""
        self._ask("SENTINEL", "FAILOVER", self.service)

    def status(self) -> dict:
        return {"mode": "sentinel", "primary": self.primary_address(),
                "replicas": self.replicas_seen(), "sentinels": len(
                    [s for s in self.sentinels if self._book.running(s.name)])}
