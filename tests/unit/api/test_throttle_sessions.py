"""Throttled logins and tokens, sessions that end (idle, revoked, logged out) and outlive the
controller in Redis, and static tokens with an expiry and rotation."""
from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

import services.api.accounts as accounts_module
from services.api import ApiDeps
from services.api.accounts import Accounts, hash_secret, users_from_mapping
from services.api.sessions import RedisSessions
from services.api.throttle import Limit, Throttle, Throttled
from tests.unit.api.conftest import CHEAP, auth, make_accounts, mount

BASE = "/api/v1"
REDIS_SERVER = "/usr/bin/redis-server"
REDIS_HOST = "127.0.0.50"      # our own, never the lab's 127.0.0.10


@pytest.fixture
def scrypt_calls(monkeypatch) -> list[str]:
    """Every scrypt verification the accounts run, counted (never timed)."""
    calls: list[str] = []
    real = accounts_module.verify_secret

    def counting(secret: str, stored: str) -> bool:
        calls.append(stored[:12])
        return real(secret, stored)

    monkeypatch.setattr(accounts_module, "verify_secret", counting)
    return calls


# ---- throttling ------------------------------------------------------------------------------
async def test_given_five_bad_logins_when_the_sixth_comes_then_429_without_scrypt(
        client: TestClient, scrypt_calls):
    for _ in range(5):
        resp = await client.post(f"{BASE}/session", json={"user": "ops", "password": "guess"})
        assert resp.status == 401
    assert len(scrypt_calls) == 5
    for _ in range(20):
        resp = await client.post(f"{BASE}/session", json={"user": "ops", "password": "guess"})
        assert resp.status == 429
        assert int(resp.headers["Retry-After"]) > 0
        assert (await resp.json())["error_id"] == "too_many_attempts"
    assert len(scrypt_calls) == 5      # no scrypt ran for any throttled request
    # the right password is throttled too while the name is locked: no oracle
    resp = await client.post(f"{BASE}/session", json={"user": "ops", "password": "lab-pw-ops"})
    assert resp.status == 429


async def test_given_bad_tokens_from_one_address_then_429_for_every_name(client, scrypt_calls):
    for n in range(20):
        resp = await client.get(f"{BASE}/calls", headers={"Authorization": f"Bearer u{n}:x"})
        assert resp.status == 401
    resp = await client.get(f"{BASE}/calls", headers={"Authorization": "Bearer ops:nope"})
    assert resp.status == 429 and "Retry-After" in resp.headers
    assert len(scrypt_calls) == 20


async def test_a_token_verified_before_the_attack_still_works_without_scrypt(client,
                                                                            scrypt_calls):
    assert (await client.get(f"{BASE}/calls", headers=auth("ops"))).status == 200
    for _ in range(25):
        await client.get(f"{BASE}/calls", headers={"Authorization": "Bearer ops:nope"})
    before = len(scrypt_calls)
    assert (await client.get(f"{BASE}/calls", headers=auth("ops"))).status == 200
    assert len(scrypt_calls) == before


async def test_throttle_window_passes_and_a_right_password_clears_the_name():
    now = [0.0]
    throttle = Throttle(Limit(2, 60), Limit(100, 60), clock=lambda: now[0])
    accounts = Accounts(users_from_mapping(
        {"ops": {"role": "ops", "password": "lab-pw"}}, lab=True, cost=CHEAP),
        throttle=throttle)
    assert await accounts.login("ops", "x", "10.0.0.1") is None
    assert await accounts.login("ops", "x", "10.0.0.1") is None
    with pytest.raises(Throttled) as caught:
        await accounts.login("ops", "lab-pw", "10.0.0.1")
    assert caught.value.retry_after == 60
    now[0] += 61
    assert await accounts.login("ops", "lab-pw", "10.0.0.1") is not None


# ---- sessions --------------------------------------------------------------------------------
async def test_session_ends_after_the_idle_timeout_but_not_while_used():
    now = [0.0]
    accounts = Accounts(make_accounts()._users, clock=lambda: now[0], idle_s=600)
    _user, session, _ttl = await accounts.login("ops", "lab-pw-ops")
    for _ in range(5):
        now[0] += 500
        assert await accounts.authenticate(session) is not None
    now[0] += 601
    assert await accounts.authenticate(session) is None


async def test_revoking_a_user_ends_all_their_sessions_and_no_one_elses(client):
    tokens = []
    for name in ("agent1001", "agent1001", "agent1002"):
        resp = await client.post(f"{BASE}/session",
                                 json={"user": name, "password": f"lab-pw-{name}"})
        tokens.append((await resp.json())["token"])
    resp = await client.delete(f"{BASE}/users/agent1001/sessions", headers=auth("ops"))
    assert resp.status == 200 and (await resp.json())["revoked"] == 2
    statuses = [(await client.get(f"{BASE}/session",
                                  headers={"Authorization": f"Bearer {t}"})).status
                for t in tokens]
    assert statuses == [401, 401, 200]


async def test_only_ops_and_the_users_own_site_supervisor_revoke(client):
    assert (await client.delete(f"{BASE}/users/agent1001/sessions",
                                headers=auth("agent1002"))).status == 403
    assert (await client.delete(f"{BASE}/users/agent2001/sessions",
                                headers=auth("sup12345"))).status == 403
    assert (await client.delete(f"{BASE}/users/agent1001/sessions",
                                headers=auth("sup12345"))).status == 200
    assert (await client.delete(f"{BASE}/users/nobody/sessions",
                                headers=auth("ops"))).status == 404


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((REDIS_HOST, 0))
        return sock.getsockname()[1]


@pytest.fixture
def acl_redis(tmp_path: Path):
    """redis-server on 127.0.0.50 with the default user off and an ACL user with a password."""
    if not Path(REDIS_SERVER).exists():
        pytest.skip("redis-server not installed")
    port = _free_port()
    acl = tmp_path / "users.acl"
    acl.write_text("user default off\nuser hotline on >test-redis-pw ~hotline:* +@all -@admin\n")
    proc = subprocess.Popen([REDIS_SERVER, "--bind", REDIS_HOST, "--port", str(port),
                             "--aclfile", str(acl), "--protected-mode", "yes", "--save", "",
                             "--dir", str(tmp_path)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection((REDIS_HOST, port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.02)
    yield port
    proc.kill()
    proc.wait()


async def test_sessions_in_redis_outlive_the_process_that_made_them(acl_redis, deps: ApiDeps):
    import redis.asyncio as aioredis

    url = f"redis://hotline:test-redis-pw@{REDIS_HOST}:{acl_redis}/0"
    first = aioredis.from_url(url)
    before = Accounts(make_accounts()._users, sessions=RedisSessions(first))
    _user, session, _ttl = await before.login("agent1001", "lab-pw-agent1001")
    await first.aclose()
    second = aioredis.from_url(url)   # a restarted controller: new client, new Accounts
    after = Accounts(make_accounts()._users, sessions=RedisSessions(second))
    assert (await after.authenticate(session)).name == "agent1001"
    assert await after.revoke("agent1001") == 1
    assert await after.authenticate(session) is None
    await second.aclose()


async def test_redis_refuses_the_default_user_and_a_wrong_password(acl_redis):
    import redis.asyncio as aioredis
    from redis.exceptions import AuthenticationError, ResponseError

    for url in (f"redis://{REDIS_HOST}:{acl_redis}/0",
                f"redis://hotline:wrong@{REDIS_HOST}:{acl_redis}/0"):
        client = aioredis.from_url(url)
        with pytest.raises((AuthenticationError, ResponseError)):
            await client.get("hotline:x")
        await client.aclose()


async def test_redis_away_makes_session_checks_503_not_a_pass(deps: ApiDeps):
    import redis.asyncio as aioredis

    dead = aioredis.from_url(f"redis://{REDIS_HOST}:{_free_port()}/0",
                             socket_connect_timeout=0.2)
    accounts = Accounts(make_accounts()._users, sessions=RedisSessions(dead))
    app = mount(ApiDeps(orders=deps.orders, routing=deps.routing, desk=deps.desk,
                        accounts=accounts, events=deps.events))
    async with TestClient(TestServer(app)) as client:
        resp = await client.get(f"{BASE}/session", headers={"Authorization": "Bearer s.abc"})
        assert resp.status == 503
        resp = await client.post(f"{BASE}/session",
                                 json={"user": "ops", "password": "lab-pw-ops"})
        assert resp.status == 503
    await dead.aclose()


# ---- static tokens: expiry and rotation ------------------------------------------------------
async def test_an_expired_token_is_refused_and_a_rotated_one_takes_over():
    now = [1_800_000_000.0]
    old, new = "old-secret", "new-secret"
    table = {"ops": {"role": "ops", "token_hash": hash_secret(old, CHEAP),
                     "token_expires": "2027-01-20T00:00:00+00:00",
                     "tokens": [{"hash": hash_secret(new, CHEAP)}]}}
    accounts = Accounts(users_from_mapping(table, lab=False), wall=lambda: now[0])
    assert (await accounts.authenticate(f"ops:{old}")).name == "ops"
    assert (await accounts.authenticate(f"ops:{new}")).name == "ops"
    now[0] = 1_900_000_000.0         # after 2027-01-20: the old token (even cached) is refused
    assert await accounts.authenticate(f"ops:{old}") is None
    assert (await accounts.authenticate(f"ops:{new}")).name == "ops"
    table["ops"].pop("tokens")        # rotation: the new token leaves the file, reloaded
    accounts.reload(users_from_mapping(table, lab=False))
    assert await accounts.authenticate(f"ops:{new}") is None


def test_the_token_command_prints_an_entry_with_an_expiry(capsys):
    assert accounts_module.main(["token", "zhang", "--days", "90"]) == 0
    out = capsys.readouterr().out
    assert "[[api.users.zhang.tokens]]" in out and "expires = 20" in out
