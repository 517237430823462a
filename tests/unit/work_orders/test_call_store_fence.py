"""The call store's fenced write against a real Redis (this directory has the Redis
fixture): one script for every site in a write, each site judged by its own lease."""
import pytest

from telephony.calls.model import Call, CallState, Leg, LegRole
from telephony.calls.store import KEY, LeaseExpired, RedisCallStore, call_from_json


def call(call_id: str, site: str) -> Call:
    return Call(id=call_id, site=site, platform=site, citizen_number="13800138000",
                citizen_leg=Leg(f"{call_id}-c", LegRole.CITIZEN), order_id=f"WO-{call_id}",
                linked_order_id=f"PO-{call_id}", state=CallState.WAITING)


async def test_each_site_is_written_only_under_its_own_lease_in_one_script(redis):
    await redis.set("hotline:lease:12345", "me 1")
    await redis.set("hotline:lease:110", "other 2")     # taken by another controller
    fences = {"12345": "me 1", "110": "me 1", "remote": "me 1"}
    store = RedisCallStore(redis, lambda coro: None, fence=fences.get)
    scripts = []
    real = store._fenced

    async def counted(keys, args):
        scripts.append(keys)
        return await real(keys=keys, args=args)

    store._fenced = counted
    batch = [(c.id, (c.site, c)) for c in (call("a", "12345"), call("b", "110"),
                                             call("c", "12345"))]
    await store._write(batch)
    assert len(scripts) == 1
    stored = {k.decode(): call_from_json(v) for k, v in (await redis.hgetall(KEY)).items()}
    assert set(stored) == {"a", "c"} and stored["a"] == batch[0][1][1]
    assert store.refused == 1

    # a site whose lease is not in Redis at all: the write is retried (the others are
    # written meanwhile), and a forgotten call is deleted
    with pytest.raises(LeaseExpired, match="remote"):
        await store._write([("a", ("12345", None)), ("d", ("remote", call("d", "remote")))])
    assert set((await redis.hgetall(KEY))) == {b"c"}


async def test_a_site_this_controller_holds_no_lease_for_is_never_asked(redis):
    store = RedisCallStore(redis, lambda coro: None, fence=lambda site: None)
    await store._write([("a", ("12345", call("a", "12345")))])
    assert store.refused == 1 and await redis.hgetall(KEY) == {}
