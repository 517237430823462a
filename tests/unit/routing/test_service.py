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


class CountingSuggester:
    """The real suggester, counting how often it is asked."""

    def __init__(self, suggester):
        self._suggester, self.asked = suggester, 0

    def suggest(self, text, context):
        self.asked += 1
        return self._suggester.suggest(text, context)


def test_arrival_suggestions_are_worked_out_once_per_site_and_ivr_choice(suggester):
    counting = CountingSuggester(suggester)
    service = RoutingService(counting)
    first = service.on_arrival("c1", CallContext(site="12345", ivr_choice="police"))
    again = service.on_arrival("c2", CallContext(site="12345", ivr_choice="police"))
    other = service.on_arrival("c3", CallContext(site="110", ivr_choice="police"))
    assert again == first == suggester.suggest("", CallContext(site="12345", ivr_choice="police"))
    assert other == suggester.suggest("", CallContext(site="110", ivr_choice="police"))
    assert counting.asked == 2
    assert service.current("c2") == first


def test_a_caller_with_history_is_never_given_a_shared_suggestion(suggester):
    from datetime import UTC, datetime

    from services.routing.model import PriorCall

    counting = CountingSuggester(suggester)
    service = RoutingService(counting)
    history = (PriorCall(when=datetime.now(UTC), summary="有人打架", order_id="WO-20261201-AAAA",
                         target="110"),)
    service.on_arrival("c1", CallContext(site="12345", history=history))
    service.on_arrival("c2", CallContext(site="12345", history=history))
    assert counting.asked == 2


def test_hostile_ivr_choices_cannot_grow_the_kept_arrivals_without_bound(suggester):
    from services.routing.service import ARRIVALS_KEPT

    service = RoutingService(suggester)
    for i in range(ARRIVALS_KEPT + 50):
        service.on_arrival(f"c{i}", CallContext(site="12345", ivr_choice=f"x{i}"))
        service.on_hangup(f"c{i}")
    assert len(service._arrivals) == ARRIVALS_KEPT
