from datetime import datetime

from services.routing import CallContext, RoutingService, context_from_dict


def test_on_arrival_the_ivr_choice_decides(suggester):
    service = RoutingService(suggester)

    suggestion = service.on_arrival("c1", CallContext(site="12345", ivr_choice="water_gas_heat"))

    assert suggestion.target == "water_gas_heat"
    assert any(r.kind == "ivr" for r in suggestion.reasons)


def test_on_arrival_without_ivr_the_site_keeps_the_call(suggester):
    service = RoutingService(suggester)

    assert service.on_arrival("c1", CallContext(site="110")).target == "110"
    assert service.on_arrival("c2", CallContext(site="12345")).target == "12345"


def test_when_the_summary_changes_the_suggestion_follows(suggester):
    service = RoutingService(suggester)
    service.on_arrival("c1", CallContext(site="12345"))

    update = service.on_summary_changed("c1", "家里停电了")

    assert update.changed and update.suggestion.target == "power"
    assert service.current("c1") == update.suggestion


def test_when_the_summary_is_unchanged_nothing_is_recomputed(suggester):
    service = RoutingService(suggester)
    service.on_arrival("c1", CallContext())
    first = service.on_summary_changed("c1", "家里停电了")

    again = service.on_summary_changed("c1", "家里停电了 ")

    assert not again.changed and again.suggestion is first.suggestion


def test_after_hangup_the_call_is_forgotten(suggester):
    service = RoutingService(suggester)
    service.on_arrival("c1", CallContext())

    service.on_hangup("c1")

    assert service.current("c1") is None


def test_context_from_dict_reads_the_api_body():
    context = context_from_dict({
        "site": "110", "ivr_choice": "police",
        "history": [{"when": "2024-05-01T09:00:00", "summary": "辱骂", "flags": ["harassment"],
                     "order_id": "WO-1", "open": True}],
    })

    assert context.site == "110" and context.ivr_choice == "police"
    call = context.history[0]
    assert call.when == datetime(2024, 5, 1, 9) and call.flags == {"harassment"}
    assert call.order_id == "WO-1" and call.open
