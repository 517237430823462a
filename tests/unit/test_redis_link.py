"""The one Redis URL every process is given: a server, or the Sentinels of a primary."""
from __future__ import annotations

import pytest

from services.redis_link import (
    RedisUrlError,
    SentinelAddress,
    check_url,
    min_replicas,
    parse_sentinel,
)


def test_a_sentinel_url_names_every_sentinel_the_service_the_db_and_the_credentials():
    url = "redis+sentinel://hotline:p%40ss@127.0.0.10:26379,127.0.0.10:26380/hotline/2"
    assert parse_sentinel(url) == SentinelAddress(
        (("127.0.0.10", 26379), ("127.0.0.10", 26380)), "hotline", 2, "hotline", "p@ss")
    assert min_replicas(url) == 1


def test_a_plain_url_is_one_server_with_no_replica_to_wait_for():
    for url in ("redis://u:p@127.0.0.10:6379/0", "rediss://h:6380", "unix:///run/redis.sock"):
        assert parse_sentinel(url) is None
        assert min_replicas(url) == 0
        assert check_url(url) is None


@pytest.mark.parametrize(("url", "says"), [
    ("http://127.0.0.1:6379", "not http://"),
    ("127.0.0.1:6379", "not a Redis URL"),
    ("redis+sentinel://127.0.0.10/hotline", "host:port"),
    ("redis+sentinel://127.0.0.10:99999/hotline", "host:port"),
    ("redis+sentinel://:26379/hotline", "host:port"),
    ("redis+sentinel:///hotline", "at least one Sentinel"),
    ("redis+sentinel://127.0.0.10:26379", "/service"),
    ("redis+sentinel://127.0.0.10:26379/hotline/zero", "is a number"),
    ("redis+sentinel://127.0.0.10:26379/a/0/extra", "/service"),
])
def test_a_wrong_url_gets_one_sentence_saying_what_is_wrong(url, says):
    with pytest.raises(RedisUrlError, match=says):
        parse_sentinel(url)
    assert says in (check_url(url) or "")


def test_lab_mode_adds_the_lab_user_and_keeps_every_sentinel(monkeypatch):
    from telephony.settings import _redis_url

    url = _redis_url({}, True, "redis+sentinel://127.0.0.10:26379,127.0.0.10:26380/hotline/0")
    address = parse_sentinel(url or "")
    assert address is not None
    assert address.sentinels == (("127.0.0.10", 26379), ("127.0.0.10", 26380))
    assert (address.username, address.password) == ("hotline", "lab-redis-secret")


def test_the_configuration_check_names_a_wrong_redis_url():
    from telephony.config.check import _check_stores

    problems: list[str] = []
    _check_stores({"HOTLINE_REDIS_URL": "redis+sentinel://nowhere/hotline"}, problems)
    assert problems and problems[0].startswith("HOTLINE_REDIS_URL: a Sentinel address")


async def test_the_replica_watch_asks_the_sentinels_at_most_once_per_ttl():
    from services.redis_link import ReplicaWatch

    now = [0.0]
    watch = ReplicaWatch(SentinelAddress((("127.0.0.1", 1),), "hotline"), ttl=1.0,
                         clock=lambda: now[0])
    answers = iter([False, True])
    asked = []

    async def ask() -> bool:
        asked.append(now[0])
        return next(answers)
    watch._ask = ask   # type: ignore[method-assign]
    assert await watch.present() is False
    now[0] = 0.5
    assert await watch.present() is False      # cached
    now[0] = 1.2
    assert await watch.present() is True
    assert asked == [0.0, 1.2]


async def test_with_no_sentinel_answering_the_watch_errs_on_the_safe_side():
    from tests.support.postgres import free_port
    from services.redis_link import ReplicaWatch

    watch = ReplicaWatch(SentinelAddress((("127.0.0.1", free_port()),), "hotline"))
    assert await watch.present() is True   # then WAIT decides, and keeps what is unconfirmed
