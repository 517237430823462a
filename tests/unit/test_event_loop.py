import asyncio

import pytest

from services.event_loop import loop_factory


def test_the_long_running_processes_get_uvloop_where_it_is_installed():
    uvloop = pytest.importorskip("uvloop")
    loop = loop_factory()()
    try:
        assert isinstance(loop, uvloop.Loop)
        assert loop.run_until_complete(asyncio.sleep(0, "ran")) == "ran"
    finally:
        loop.close()
