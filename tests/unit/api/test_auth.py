"""Authentication: tokens, session logins, roles, and which credentials a deployment accepts."""
from __future__ import annotations

import pytest

from services.api.accounts import (
    ROLES,
    AccountsError,
    ScryptCost,
    hash_secret,
    load_accounts,
    main,
    users_from_mapping,
    verify_secret,
)
from services.api.core import ApiDeps
from tests.unit.api.conftest import CHEAP, auth, make_accounts, token

BASE = "/api/v1"


@pytest.mark.parametrize("headers", [
    {},
    {"Authorization": "Bearer"},
    {"Authorization": "Basic YWdlbnQ6cHc="},
    {"Authorization": "Bearer agent1001:wrong"},
    {"Authorization": "Bearer nobody:lab-token-agent1001"},
    {"Authorization": "Bearer lab-token-agent1001"},
    {"Authorization": "Bearer s.not-a-session"},
])
async def test_missing_or_bad_credentials_get_json_401(client, headers):
    resp = await client.get(f"{BASE}/calls", headers=headers)
    assert resp.status == 401
    body = await resp.json()
    assert set(body) == {"error_id", "message", "details"}
    assert body["error_id"] in ("unauthorized", "bad_token")


async def test_token_of_one_user_with_anothers_name_is_refused(client):
    resp = await client.get(f"{BASE}/session", headers={
        "Authorization": "Bearer agent1002:lab-token-agent1001"})
    assert resp.status == 401


async def test_every_authenticated_route_refuses_anonymous_callers(client):
    from services.api.app import OPERATIONS

    for op in OPERATIONS:
        if not op.authenticated:
            continue
        path = op.path.format(call_id="c1", action="keep", site="12345", seat="1001",
                              order_id="WO-20261123-000000000000", user="ops",
                              number="13800138000", entry_id="kb-1", transfer_id="x1",
                              three_way_id="x1", leg="agent", recording_id="rec-c1-0000000a")
        resp = await client.request(op.method, BASE + path, json={})
        assert resp.status == 401, (op.method, op.path)


async def test_password_login_gives_a_session_token_that_works_until_logout(client):
    resp = await client.post(f"{BASE}/session",
                             json={"user": "agent1001", "password": "lab-pw-agent1001"})
    assert resp.status == 201
    session = await resp.json()
    assert session["user"] == {"name": "agent1001", "role": "agent_12345", "site": "12345",
                               "seat": "1001"}
    headers = {"Authorization": f"Bearer {session['token']}"}
    me = await client.get(f"{BASE}/session", headers=headers)
    assert (await me.json())["user"]["name"] == "agent1001"
    out = await client.delete(f"{BASE}/session", headers=headers)
    assert (await out.json())["logged_out"] is True
    assert (await client.get(f"{BASE}/session", headers=headers)).status == 401


@pytest.mark.parametrize("body", [
    {"user": "agent1001", "password": "wrong"},
    {"user": "nobody", "password": "lab-pw-agent1001"},
    {"user": "agent1001", "password": "lab-token-agent1001"},
])
async def test_wrong_login_is_401(client, body):
    resp = await client.post(f"{BASE}/session", json=body)
    assert resp.status == 401
    assert (await resp.json())["error_id"] == "login_failed"


async def test_session_expires(deps: ApiDeps):
    now = [0.0]
    accounts = make_accounts(clock=lambda: now[0])
    _user, session, ttl = await accounts.login("ops", "lab-pw-ops")
    assert (await accounts.authenticate(session)).name == "ops"
    now[0] += ttl
    assert await accounts.authenticate(session) is None


async def test_role_without_the_right_gets_403_with_allowed_roles(client):
    resp = await client.get(f"{BASE}/reports/rates", headers=auth("agent1001"))
    assert resp.status == 403
    body = await resp.json()
    assert body["error_id"] == "role_forbidden"
    assert body["details"]["allowed"] == ["supervisor", "ops"]


async def test_verified_tokens_are_remembered_by_digest_only(deps: ApiDeps):
    accounts = deps.accounts
    user = await accounts.authenticate(token("ops"))
    assert user is not None and user.name == "ops"
    assert token("ops") not in repr(accounts.__dict__)
    assert "lab-token" not in repr(user)


# ---- which credentials a deployment accepts ------------------------------------------------
def test_hashes_verify_in_constant_time_and_carry_their_cost():
    stored = hash_secret("s3cret", CHEAP)
    assert stored.startswith("scrypt$16$1$1$")
    assert verify_secret("s3cret", stored)
    assert not verify_secret("s3cret!", stored)


def _write(tmp_path, text: str):
    path = tmp_path / "users.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_outside_the_lab_users_come_from_the_named_file_with_hashes_only(tmp_path):
    tok, pw = hash_secret("t0ken", CHEAP), hash_secret("pw", CHEAP)
    path = _write(tmp_path, f'[api.users.wang]\nrole = "supervisor"\n'
                            f'token_hash = "{tok}"\npassword_hash = "{pw}"\n')
    accounts = load_accounts({"HOTLINE_API_USERS_FILE": str(path)})
    assert accounts.get("wang").role == "supervisor"


def test_outside_the_lab_a_users_file_is_required():
    with pytest.raises(AccountsError, match="HOTLINE_API_USERS_FILE"):
        load_accounts({})


def test_outside_the_lab_clear_text_secrets_are_refused(tmp_path):
    path = _write(tmp_path, '[api.users.wang]\nrole = "ops"\ntoken = "whatever"\n')
    with pytest.raises(AccountsError, match="token_hash"):
        load_accounts({"HOTLINE_API_USERS_FILE": str(path)})


def test_outside_the_lab_hashes_of_the_lab_secrets_are_refused(tmp_path):
    lab = _write(tmp_path, '[api.users.ops]\nrole = "ops"\ntoken = "lab-token-ops"\n')
    prod = tmp_path / "prod.toml"
    prod.write_text(f'[api.users.ops]\nrole = "ops"\n'
                    f'token_hash = "{hash_secret("lab-token-ops", CHEAP)}"\n')
    with pytest.raises(AccountsError, match="lab credentials"):
        load_accounts({"HOTLINE_API_USERS_FILE": str(prod)}, lab_file=lab)


def test_the_lab_file_loads_in_lab_mode_only_with_lab_secrets():
    accounts = load_accounts({"HOTLINE_MODE": "lab"})
    assert {accounts.get(n).role for n in ("agent1001", "agent2001", "supervisor", "ops")} == {
        "agent_12345", "agent_110", "supervisor", "ops"}
    with pytest.raises(AccountsError, match="start with 'lab-'"):
        users_from_mapping({"x": {"role": "ops", "token": "secret"}}, lab=True, cost=CHEAP)


@pytest.mark.parametrize(("raw", "message"), [
    ({"role": "admin", "token_hash": "x"}, "role must be one of"),
    ({"role": "agent_110", "password": "lab-x"}, "needs a site"),
    ({"role": "ops"}, "neither a token nor a password"),
    ({"role": "ops", "token_hash": "md5$abc"}, "not a scrypt hash"),
    ({"role": "department", "password": "lab-x"}, "needs a department"),
])
def test_bad_user_entries_are_refused_at_start(raw, message):
    with pytest.raises(AccountsError, match=message):
        users_from_mapping({"u": raw}, lab=True, cost=ScryptCost(n=16, r=1, p=1))


def test_a_department_user_carries_its_department_and_is_not_in_the_default_roles():
    accounts = load_accounts({"HOTLINE_MODE": "lab"})
    user = accounts.get("dept_housing")
    assert (user.role, user.department) == ("department", "housing")
    assert user.public()["department"] == "housing"
    assert user.role not in ROLES


def test_cli_prints_a_token_and_its_hash(capsys):
    assert main(["token", "wang"]) == 0
    out = capsys.readouterr().out
    secret = out.split("wang:")[1].split()[0]
    stored = out.split('token_hash = "')[1].split('"')[0]
    assert verify_secret(secret, stored)
