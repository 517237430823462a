from types import SimpleNamespace

from bench.op_counts import stats_redis_url


def lab_with(ha=None):
    class Lab:
        @property
        def redis_ha(self):
            if ha is None:
                raise KeyError("redis")   # no HA accounts in this lab's accounts file
            return ha
    return Lab()


def test_redis_is_counted_as_the_sentinels_user_which_may_run_info():
    ha = SimpleNamespace(sentinel_user="sentinel", password="p@ss:w/rd")
    url = stats_redis_url("redis://hotline:lab%20pw@127.0.0.20:6390/0", lab_with(ha))
    assert url == "redis://sentinel:p%40ss%3Aw%2Frd@127.0.0.20:6390/0"


def test_without_sentinel_accounts_the_controllers_url_is_tried_and_without_redis_none():
    url = "redis://hotline:pw@127.0.0.20:6390/0"
    assert stats_redis_url(url, lab_with()) == url
    assert stats_redis_url("", lab_with()) is None
