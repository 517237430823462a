"""The test PostgreSQL runs as production should: the application's own role, a password
over TCP, no way in without it."""
from __future__ import annotations

import os

import pytest
from sqlalchemy.engine import make_url

pytestmark = pytest.mark.postgres


async def test_postgres_refuses_a_missing_or_wrong_password(postgres_server: str):
    import asyncpg

    if os.environ.get("HOTLINE_TEST_PG_URL"):
        pytest.skip("an outside server: its authentication is not ours to check")
    url = make_url(postgres_server)
    assert url.username == "hotline" and url.password
    for password in (None, "wrong"):
        with pytest.raises((asyncpg.InvalidPasswordError, asyncpg.InvalidAuthorizationSpecificationError)):
            await asyncpg.connect(host=url.host, port=url.port, user=url.username,
                                  password=password, database=url.database)
    conn = await asyncpg.connect(host=url.host, port=url.port, user=url.username,
                                 password=url.password, database=url.database)
    assert await conn.fetchval("select rolsuper from pg_roles where rolname = current_user") \
        is False
    await conn.close()
