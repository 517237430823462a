"""Issue 13 against the real lab: a desk's session survives a controller restart, bad
logins are throttled, pages carry their security headers, and the lab's Redis lets in
only its ACL user."""
from __future__ import annotations

from urllib.parse import urlsplit

import aiohttp
import pytest

pytestmark = pytest.mark.integration


def base(settings) -> str:
    return f"http://{settings.api_host}:{settings.api_port}"


async def test_a_desk_session_survives_a_controller_restart(lab, settings):
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{base(settings)}/api/v1/session",
                             json={"user": "agent1001", "password": "lab-agent1001"}) as resp:
            assert resp.status == 201, await resp.text()
            token = (await resp.json())["token"]
        auth = {"Authorization": f"Bearer {token}"}
        lab.stop_controller()
        lab.start_controller()
        lab.wait_controller()
        async with http.get(f"{base(settings)}/api/v1/session", headers=auth) as resp:
            assert resp.status == 200, await resp.text()
            assert (await resp.json())["user"]["name"] == "agent1001"
        # the desk's event stream takes the same session (as the browser sends it)
        ws = await http.ws_connect(f"{base(settings)}/api/v1/events", params={"token": token},
                                   headers={"Origin": base(settings)})
        assert (await ws.receive_json())["type"] == "hello"
        await ws.close()
        async with http.delete(f"{base(settings)}/api/v1/session", headers=auth) as resp:
            assert (await resp.json())["logged_out"] is True
        async with http.get(f"{base(settings)}/api/v1/session", headers=auth) as resp:
            assert resp.status == 401


async def test_bad_logins_are_throttled_before_any_hashing(lab, settings):
    """After five wrong passwords for one name, a 429 with Retry-After (the scrypt counts
    are asserted in tests/unit/api/test_throttle_sessions.py)."""
    statuses = []
    async with aiohttp.ClientSession() as http:
        for _ in range(8):
            async with http.post(f"{base(settings)}/api/v1/session",
                                 json={"user": "intruder", "password": "not-it"}) as resp:
                statuses.append(resp.status)
                retry_after = resp.headers.get("Retry-After")
    assert statuses == [401] * 5 + [429] * 3
    assert retry_after is not None and int(retry_after) > 0


@pytest.mark.parametrize("path", ["/desk", "/board"])
async def test_pages_carry_csp_frame_options_and_no_store(lab, settings, path):
    async with aiohttp.ClientSession() as http, http.get(base(settings) + path) as resp:
        assert resp.status == 200
        assert "frame-ancestors 'none'" in resp.headers["Content-Security-Policy"]
        assert resp.headers["X-Frame-Options"] == "DENY"
        assert resp.headers["Cache-Control"] == "no-store"


async def test_lab_redis_lets_in_only_its_acl_user(lab, settings):
    import redis.asyncio as aioredis
    from redis.exceptions import AuthenticationError, ResponseError

    parts = urlsplit(settings.redis_url)
    assert parts.username and parts.password
    bare = aioredis.from_url(f"redis://{parts.hostname}:{parts.port}/0")
    with pytest.raises((AuthenticationError, ResponseError)):
        await bare.get("hotline:calls")
    await bare.aclose()
    client = aioredis.from_url(settings.redis_url)
    assert await client.ping()
    with pytest.raises(ResponseError):           # no admin command for the controller's user
        await client.config_get("requirepass")
    await client.aclose()
