"""The dispatch flow through the API: 派单 by the hotline, 签收 and 退单 by the department
holding the order, 改派 by a supervisor; who may do what; the per-department reports."""
from tests.unit.api.conftest import auth, open_order

BASE = "/api/v1"
HOUSING_TEXT = "小区物业不管事，楼道里的垃圾一个月没人清理"


async def _post(client, path, who, body=None):
    return await client.post(BASE + path, json=body if body is not None else {},
                             headers=auth(who))


async def test_the_order_carries_its_suggestion_with_reasons(client, orders):
    order_id = await open_order(orders, summary=HOUSING_TEXT)
    response = await client.get(f"{BASE}/orders/{order_id}/dispatch", headers=auth("agent1001"))
    assert response.status == 200
    suggestion = (await response.json())["suggestion"]
    assert suggestion["department"] == "housing" and suggestion["region"] == "410300"
    assert "物业" in suggestion["candidates"][0]["reasons"][0]["words"]


async def test_dispatch_accept_return_and_reassign_over_http(client, orders):
    order_id = await open_order(orders, summary=HOUSING_TEXT)
    response = await _post(client, f"/orders/{order_id}/dispatch", "agent1001",
                           {"department": "housing"})
    assert response.status == 200
    assert (await response.json())["status"] == "assigned"

    # the other department may neither see nor accept it
    other = await _post(client, f"/orders/{order_id}/accept", "dept_urban_management")
    assert (other.status, (await other.json())["error_id"]) == (403, "not_your_order")
    seen = await client.get(f"{BASE}/orders/{order_id}/dispatch",
                            headers=auth("dept_urban_management"))
    assert seen.status == 403

    accepted = await _post(client, f"/orders/{order_id}/accept", "dept_housing")
    assert (await accepted.json())["state"] == "accepted"
    queue = await client.get(f"{BASE}/dispatch/queue", headers=auth("dept_housing"))
    assert [o["order_id"] for o in (await queue.json())["orders"]] == [order_id]

    no_reason = await _post(client, f"/orders/{order_id}/return", "dept_housing", {})
    assert no_reason.status == 422
    returned = await _post(client, f"/orders/{order_id}/return", "dept_housing",
                           {"reason": "属于城管职责"})
    assert (await returned.json())["department"] is None

    # an agent may not reassign; a supervisor may
    refused = await _post(client, f"/orders/{order_id}/reassign", "agent1001",
                          {"department": "urban_management", "reason": "城管"})
    assert refused.status == 403
    moved = await _post(client, f"/orders/{order_id}/reassign", "sup",
                        {"department": "urban_management", "reason": "城管"})
    assert moved.status == 200 and (await moved.json())["department"] == "urban_management"

    order = await (await client.get(f"{BASE}/orders/{order_id}", headers=auth("sup"))).json()
    assert order["department"] == "urban_management"
    notes = [e["note"] for e in order["history"] if e["kind"] == "dispatch"]
    assert notes[-4:] == ["派单 to housing", "签收 by housing", "退单 by housing: 属于城管职责",
                          "改派 to urban_management: 城管"]


async def test_illegal_steps_answer_409_and_110_orders_are_not_dispatched(client, orders):
    order_id = await open_order(orders, summary=HOUSING_TEXT)
    await _post(client, f"/orders/{order_id}/dispatch", "agent1001", {"department": "housing"})
    again = await _post(client, f"/orders/{order_id}/dispatch", "agent1001",
                        {"department": "hrss"})
    assert (again.status, (await again.json())["error_id"]) == (409, "illegal_transition")
    unknown = await _post(client, f"/orders/{order_id}/reassign", "sup",
                          {"department": "nowhere", "reason": "x"})
    assert unknown.status == 422
    police = await open_order(orders, platform="110", call_id="c9")
    refused = await _post(client, f"/orders/{police}/dispatch", "sup", {"department": "housing"})
    assert refused.status == 403


async def test_department_users_reach_only_the_dispatch_endpoints(client):
    assert (await client.get(f"{BASE}/session", headers=auth("dept_housing"))).status == 200
    for path in ("/calls", "/orders", "/reports/rates", "/reports/dispatch-accuracy"):
        response = await client.get(BASE + path, headers=auth("dept_housing"))
        assert response.status == 403, path
    other = await client.get(f"{BASE}/dispatch/queue?department=hrss",
                             headers=auth("dept_housing"))
    assert other.status == 403


async def test_reports_per_department(client, orders):
    right = await open_order(orders, summary=HOUSING_TEXT)
    wrong = await open_order(orders, summary="公司拖欠我三个月工资不发", call_id="c2")
    for order_id in (right, wrong):
        await _post(client, f"/orders/{order_id}/dispatch", "agent1001",
                    {"department": "housing"})
    await _post(client, f"/orders/{wrong}/return", "dept_housing", {"reason": "欠薪归人社"})

    accuracy = await (await client.get(f"{BASE}/reports/dispatch-accuracy",
                                       headers=auth("sup"))).json()
    assert (accuracy["orders"], accuracy["correct"]) == (1, 1)
    rows = (await (await client.get(f"{BASE}/reports/departments",
                                    headers=auth("ops"))).json())["rows"]
    housing = next(r for r in rows if r["department"] == "housing")
    assert (housing["orders"], housing["returns"]) == (1, 1)
    assert len(rows) >= 24
    own = (await (await client.get(f"{BASE}/reports/departments",
                                   headers=auth("dept_housing"))).json())["rows"]
    assert [r["department"] for r in own] == ["housing"]
    returns = (await (await client.get(f"{BASE}/reports/returns",
                                       headers=auth("dept_urban_management"))).json())["rows"]
    assert returns == []


async def test_suggestion_endpoint_and_catalogue(client):
    response = await _post(client, "/dispatch/suggestions", "agent1001",
                           {"text": "家里暖气一点都不热", "region": "410302"})
    assert (await response.json())["department"] == "gas_heat_company"
    catalogue = await (await client.get(f"{BASE}/dispatch/departments",
                                        headers=auth("dept_housing"))).json()
    assert len(catalogue["departments"]) == 24
    assert all(len(d["items"]) >= 5 for d in catalogue["departments"])


def test_a_department_user_needs_its_department():
    import pytest

    from services.api.accounts import AccountsError, users_from_mapping
    from tests.unit.api.conftest import CHEAP

    def load(**raw):
        return users_from_mapping({"u": {"token": "lab-token-u", **raw}}, lab=True, cost=CHEAP)

    assert load(role="department", department="housing")["u"].department == "housing"
    with pytest.raises(AccountsError):
        load(role="department")
