"""The dispatch flow and the suggestion hook against a real database."""
import pytest
from sqlalchemy import select

from services.dispatch.flow import Action, Actor
from services.dispatch.models import DispatchStep
from services.dispatch.steps import NotYourOrder
from services.work_orders.errors import AccessDenied, IllegalTransition, InvalidOrder
from tests.unit.work_orders.helpers import open_order

REGION = "410302"   # 洛阳市老城区: under the city's 410300 items


async def _order(orders, summary="小区物业不管事，楼道里的垃圾一个月没人清理", **extra):
    return await open_order(orders, summary=summary, region_code=REGION, **extra)


async def test_a_new_order_gets_a_suggestion_with_its_reasons(orders, dispatch):
    order_id = await _order(orders)
    view = await dispatch.of_order(order_id)
    suggestion = view["suggestion"]
    assert view["state"] == "new"
    assert suggestion["department"] == "housing"
    reason = suggestion["candidates"][0]["reasons"][0]
    assert reason["item_id"].startswith("housing.") and "物业" in reason["words"]
    assert reason["region"] == REGION
    record = await orders.record(order_id)
    assert [e["kind"] for e in record["history"]] == ["status"]   # a suggestion is no act


async def test_a_changed_summary_changes_the_suggestion(orders, dispatch):
    order_id = await _order(orders, summary="")
    assert (await dispatch.of_order(order_id))["suggestion"] is None   # nothing to read yet
    await orders.update_details(order_id, "agent", summary="公司拖欠我三个月工资不发")
    assert (await dispatch.of_order(order_id))["suggestion"]["department"] == "hrss"
    await orders.update_details(order_id, "agent", summary="家里暖气一点都不热")
    assert (await dispatch.of_order(order_id))["suggestion"]["department"] == "gas_heat_company"


async def test_110_orders_get_no_department_suggestion_and_cannot_be_dispatched(orders, dispatch):
    order_id = await open_order(orders, platform="110", summary="小区物业不管事")
    assert (await dispatch.of_order(order_id))["suggestion"] is None
    with pytest.raises(InvalidOrder):
        await dispatch.dispatch(order_id, "housing", "agent")


async def test_dispatch_accept_return_and_redispatch_keep_status_and_department_in_step(
        orders, dispatch, clock):
    order_id = await _order(orders)
    result = await dispatch.dispatch(order_id, "housing", "api:agent1001")
    assert (result.state, result.status, result.department) == (
        "dispatched", "assigned", "housing")
    clock.advance(minutes=5)
    result = await dispatch.accept(order_id, "housing", "api:dept_housing")
    assert (result.state, result.status) == ("accepted", "in_progress")
    result = await dispatch.return_(order_id, "housing", "api:dept_housing", "不属于本部门职责")
    assert (result.state, result.status, result.department) == ("returned", "returned", None)
    result = await dispatch.dispatch(order_id, "urban_management", "api:agent1001")
    assert (result.status, result.department) == ("assigned", "urban_management")
    record = await orders.record(order_id)
    assert record["department"] == "urban_management"
    notes = [e["note"] for e in record["history"] if e["kind"] == "dispatch"]
    assert notes == ["派单 to housing", "签收 by housing",
                         "退单 by housing: 不属于本部门职责", "派单 to urban_management"]
    statuses = [e["to_status"] for e in record["history"] if e["kind"] == "status"]
    assert statuses == ["received", "assigned", "in_progress", "returned", "assigned"]


async def test_a_department_acts_only_on_the_orders_it_holds(orders, dispatch):
    order_id = await _order(orders)
    await dispatch.dispatch(order_id, "housing", "agent")
    with pytest.raises(NotYourOrder):
        await dispatch.accept(order_id, "urban_management", "api:dept_urban_management")
    with pytest.raises(NotYourOrder):
        await dispatch.return_(order_id, "urban_management", "x", "不是我们的")
    assert (await dispatch.of_order(order_id))["state"] == "dispatched"


async def test_a_return_needs_a_reason_and_nothing_changes_without_one(orders, dispatch):
    order_id = await _order(orders)
    await dispatch.dispatch(order_id, "housing", "agent")
    with pytest.raises(InvalidOrder):
        await dispatch.return_(order_id, "housing", "dept", "  ")
    view = await dispatch.of_order(order_id)
    assert (view["state"], view["status"], view["department"]) == (
        "dispatched", "assigned", "housing")


async def test_a_supervisor_reassigns_an_accepted_order_to_another_department(orders, dispatch):
    order_id = await _order(orders)
    await dispatch.dispatch(order_id, "housing", "agent")
    await dispatch.accept(order_id, "housing", "dept")
    result = await dispatch.reassign(order_id, "urban_management", "api:supervisor", "属城管职责")
    assert (result.state, result.status, result.department) == (
        "dispatched", "assigned", "urban_management")
    view = await dispatch.of_order(order_id)
    assert [s["action"] for s in view["steps"]] == ["dispatch", "accept", "reassign"]
    assert view["steps"][-1]["previous_department"] == "housing"
    with pytest.raises(InvalidOrder):   # to the same department is no reassignment
        await dispatch.reassign(order_id, "urban_management", "sup", "again")


async def test_only_a_supervisor_reassigns_and_hotline_agents_do_not_accept(orders, dispatch):
    order_id = await _order(orders)
    await dispatch.dispatch(order_id, "housing", "agent")
    with pytest.raises(AccessDenied):
        await dispatch._step(order_id, Action.REASSIGN, "agent", Actor.HOTLINE,
                             department="urban_management", reason="x")


async def test_unknown_departments_and_illegal_steps_are_refused(orders, dispatch):
    order_id = await _order(orders)
    with pytest.raises(InvalidOrder):
        await dispatch.dispatch(order_id, "no_such_department", "agent")
    with pytest.raises(IllegalTransition):
        await dispatch.accept(order_id, "housing", "dept")   # not dispatched yet
    await dispatch.dispatch(order_id, "housing", "agent")
    with pytest.raises(IllegalTransition):
        await dispatch.dispatch(order_id, "hrss", "agent")   # already held: that is 改派


async def test_reports_count_returns_per_department_and_accuracy(orders, dispatch, engine):
    right = await _order(orders)                                   # suggested housing
    wrong = await _order(orders, summary="公司拖欠我三个月工资不发")   # suggested hrss
    await dispatch.dispatch(right, "housing", "agent")
    await dispatch.dispatch(wrong, "housing", "agent")
    await dispatch.return_(wrong, "housing", "dept", "欠薪归人社局")
    await dispatch.dispatch(wrong, "hrss", "agent")
    returns = await dispatch.returns()
    assert [(r["department"], r["returns"]) for r in returns] == [("housing", 1)]
    assert returns[0]["reasons"][0]["reason"] == "欠薪归人社局"
    accuracy = await dispatch.accuracy()
    assert (accuracy["orders"], accuracy["correct"], accuracy["accuracy"]) == (2, 2, 1.0)
    await dispatch.reassign(right, "urban_management", "sup", "城管")
    accuracy = await dispatch.accuracy()
    assert (accuracy["orders"], accuracy["correct"]) == (2, 1)
    async with dispatch._sessions() as session:
        steps = (await session.scalars(select(DispatchStep))).all()
    assert len(steps) == 5


async def test_queue_lists_what_a_department_holds_with_masked_numbers(orders, dispatch):
    mine = await _order(orders)
    other = await _order(orders)
    await dispatch.dispatch(mine, "housing", "agent")
    await dispatch.dispatch(other, "hrss", "agent")
    queue = await dispatch.queue("housing")
    assert [row["order_id"] for row in queue] == [mine]
    assert "*" in queue[0]["citizen"]


async def test_a_failing_suggester_never_costs_the_order_its_event(orders, dispatch):
    class Broken:
        catalogue = dispatch.suggester.catalogue

        def suggest(self, *args):
            raise RuntimeError("boom")

    dispatch.suggester = Broken()
    order_id = await _order(orders)
    assert (await orders.record(order_id))["summary"]
    assert (await dispatch.of_order(order_id))["suggestion"] is None
