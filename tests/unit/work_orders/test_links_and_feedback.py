import pytest

from services.work_orders.errors import AccessDenied, IllegalTransition, InvalidOrder
from services.work_orders.events import (
    NegotiationRecorded,
    OrderTransferred,
    StatusChanged,
    TransferFailed,
)
from services.work_orders.ids import new_order_id

from .helpers import CITIZEN, open_order, opened


async def transfer_to_110(service, clock, mode="three_way"):
    wo = await open_order(service, category="dispute", summary="邻里纠纷, 对方扬言报复")
    po = new_order_id("110", clock.now)
    await service.apply(
        OrderTransferred(
            source_order_id=wo,
            target_order_id=po,
            target_platform="110",
            mode=mode,
            actor="agent-12345-7",
            at=clock.now,
        )
    )
    return wo, po


async def test_transfer_opens_the_linked_police_order_pointing_back(service, clock):
    wo, po = await transfer_to_110(service, clock)
    source, target = await service.record(wo), await service.record(po)
    assert source["status"] == "transferred"
    assert source["history"][-1]["data"] == {"target_order_id": po, "mode": "three_way"}
    assert source["links"] == [
        {
            "source_order_id": wo,
            "target_order_id": po,
            "kind": "three_way",
            "actor": "agent-12345-7",
            "created_at": clock.now.isoformat(),
        }
    ]
    assert (target["platform"], target["status"], target["source_order_id"]) == (
        "110",
        "received",
        wo,
    )
    assert target["citizen_number"] == CITIZEN and target["summary"] == source["summary"]


async def test_call_details_from_the_110_leg_complete_the_linked_order(service, clock):
    wo, po = await transfer_to_110(service, clock)
    assert await service.apply(opened(service, "110", order_id=po, call_id="leg-110"))
    target = await service.record(po)
    assert target["call_id"] == "leg-110" and target["source_order_id"] == wo
    assert target["status"] == "received"


async def test_each_platform_sees_the_others_status_and_outcome(service, clock):
    wo, po = await transfer_to_110(service, clock)
    await service.assign(po, "城关派出所", "agent-110-3")
    wo_view = await service.view(wo, "agent_12345")
    assert wo_view["linked"][0] | {"updated_at": None} == {
        "order_id": po,
        "platform": "110",
        "kind": "three_way",
        "direction": "to",
        "status": "assigned",
        "outcome": None,
        "updated_at": None,
    }
    assert wo_view["history"][-1]["kind"] == "feedback"
    po_view = await service.view(po, "agent_110")
    assert (
        po_view["linked"][0]["order_id"] == wo and po_view["linked"][0]["status"] == "transferred"
    )


async def test_final_outcome_is_fed_back_and_closes_the_origin(service, clock):
    wo, po = await transfer_to_110(service, clock)
    for status in ("assigned", "in_progress", "replied"):
        await service.transition(
            po, status, "police", department="城关派出所", outcome="已出警调解, 双方和解"
        )
    await service.record_visit(po, "visitor-110", resolved=True, satisfied=True)
    await service.transition(po, "closed", "police")
    source = await service.record(wo)
    assert source["status"] == "closed"
    assert source["outcome"] == "已出警调解, 双方和解"
    feedback = [e for e in source["history"] if e["kind"] == "feedback"]
    assert [e["data"]["status"] for e in feedback] == [
        "assigned",
        "in_progress",
        "replied",
        "closed",
    ]
    assert source["history"][-1]["actor"] == f"feedback:{po}"


async def test_rejection_by_110_sends_the_order_back_to_12345(service, clock):
    wo, po = await transfer_to_110(service, clock)
    await service.transition(po, "rejected", "agent-110", note="不属于公安职责")
    source = await service.record(wo)
    assert source["status"] == "received"
    assert "不属于公安职责" in source["history"][-1]["note"]


async def test_transfer_from_a_closed_order_is_refused(service, clock):
    wo, _ = await transfer_to_110(service, clock)
    with pytest.raises(IllegalTransition):
        await service.transfer(wo, "handover", "agent")


async def test_transfer_to_the_same_platform_is_refused(service, clock):
    wo = await open_order(service)
    with pytest.raises(InvalidOrder):
        await service.apply(
            OrderTransferred(
                source_order_id=wo,
                target_order_id=new_order_id("12345", clock.now),
                target_platform="12345",
                mode="handover",
                actor="a",
                at=clock.now,
            )
        )


async def test_negotiation_records_keys_and_first_contact_default(service, clock):
    wo = await open_order(service)
    await service.apply(
        NegotiationRecorded(order_id=wo, actor="agent-110-2", key="1", at=clock.now, outcome="110")
    )
    await service.apply(
        NegotiationRecorded(order_id=wo, actor="agent-12345-7", key="#", at=clock.now)
    )
    entries = [e for e in (await service.record(wo))["history"] if e["kind"] == "negotiation"]
    assert [e["data"] for e in entries] == [
        {"key": "1", "platform": "110", "rule": "agreed"},
        {"key": "#", "platform": "12345", "rule": "first_contact"},
    ]


async def test_failed_transfer_is_recorded_and_leaves_the_order_with_the_agent(service, clock):
    wo = await open_order(service)
    await service.apply(
        TransferFailed(order_id=wo, reason="110 busy", at=clock.now, target_platform="110")
    )
    record = await service.record(wo)
    assert record["status"] == "received"
    assert record["history"][-1]["kind"] == "transfer_failed"


async def test_citizen_number_is_masked_for_roles_that_should_not_see_it(service, clock):
    wo = await open_order(service)
    assert (await service.view(wo, "agent_12345"))["citizen_number"] == CITIZEN
    assert (await service.view(wo, "visitor"))["citizen_number"] == CITIZEN
    for role in ("supervisor", "department"):
        assert (await service.view(wo, role))["citizen_number"] == "138****8000"


async def test_12345_agent_sees_a_police_order_only_through_link_and_feedback(service, clock):
    _, po = await transfer_to_110(service, clock)
    view = await service.view(po, "agent_12345")
    assert view["restricted"] is True
    assert set(view) == {
        "order_id",
        "platform",
        "status",
        "outcome",
        "updated_at",
        "linked",
        "feedback",
        "restricted",
    }
    assert CITIZEN not in repr(view) and "扬言" not in repr(view)
    unlinked = await open_order(service, "110")
    with pytest.raises(AccessDenied):
        await service.view(unlinked, "agent_12345")


async def test_repeat_calls_are_marked_duplicate_or_merged(service):
    main = await open_order(service)
    repeat = await open_order(service)
    again, third = await open_order(service), await open_order(service)
    await service.mark_duplicate(repeat, main, "agent-1")
    await service.merge(main, [again, third], "agent-1")
    record = await service.record(repeat)
    assert (record["status"], record["duplicate_of"]) == ("closed", main)
    assert record["links"][0]["kind"] == "duplicate"
    assert (await service.record(third))["merged_into"] == main
    assert {link["order_id"] for link in (await service.view(main, "supervisor"))["linked"]} == {
        repeat,
        again,
        third,
    }
    with pytest.raises(InvalidOrder):
        await service.mark_duplicate(main, repeat, "agent-1")


async def test_online_request_is_submitted_and_forwarded_as_a_linked_order(service):
    wo = await service.submit_online(
        "12345",
        citizen_number=CITIZEN,
        region_code="620102",
        summary="网上留言: 有人持刀威胁",
        category="dispute",
    )
    record = await service.record(wo)
    assert (record["channel"], record["status"], record["call_id"]) == ("online", "received", None)
    po = await service.forward_online(wo, "agent-12345-7", note="涉嫌违法, 转110")
    target = await service.record(po)
    assert po.startswith("PO-") and target["channel"] == "online"
    assert target["source_order_id"] == wo
    assert (await service.record(wo))["links"][0]["kind"] == "online"


async def test_status_event_from_the_controller_uses_the_same_table(service, clock):
    wo = await open_order(service)
    with pytest.raises(IllegalTransition):
        await service.apply(
            StatusChanged(order_id=wo, to_status="visited", actor="x", at=clock.now)
        )
