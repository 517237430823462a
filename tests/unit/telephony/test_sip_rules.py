"""What may come in over SIP and what may go out to a dial string (telephony/sip_rules.py),
and how the rendered configuration applies it."""
from __future__ import annotations

import re

import pytest

from telephony.render import SiteDirs, render_site
from telephony.settings import load_settings
from telephony.sip_rules import (
    TRUNK_HEADERS,
    UnsafeDialString,
    caller_number,
    check_endpoint,
    clean_header,
    digit_patterns,
    uri_source,
)


def matches(pattern: str, number: str) -> bool:
    """Asterisk's reading of an extension pattern (X, [a-b], literals; no . or !)."""
    if not pattern.startswith("_"):
        return pattern == number
    regex = re.sub(r"X", "[0-9]", pattern[1:])
    return re.fullmatch(regex, number) is not None


@pytest.mark.parametrize("first,last", [(1001, 1010), (2001, 2010), (1001, 2000), (1000, 1999),
                                        (5, 5), (0, 9), (110, 119), (1234, 5678), (1, 1)])
def test_digit_patterns_match_exactly_the_range(first, last):
    patterns = digit_patterns(first, last)
    width = len(str(last))
    low, high = 10 ** (width - 1) if width > 1 else 0, 10 ** width - 1
    for n in range(low, high + 1):
        hits = [p for p in patterns if matches(p, str(n))]
        assert len(hits) == (1 if first <= n <= last else 0), (n, hits)
    assert all("." not in p and "!" not in p for p in patterns)


def test_digit_patterns_for_the_lab_seats():
    assert digit_patterns(1001, 1010) == ["_100[1-9]", "1010"]
    assert digit_patterns(1000, 1999) == ["_1XXX"]


def test_digit_patterns_refuse_a_range_of_two_lengths():
    with pytest.raises(ValueError):
        digit_patterns(99, 100)


@pytest.mark.parametrize("endpoint", ["PJSIP/1001", "PJSIP/line-119", "PJSIP/line-water_gas_heat",
                                      "PJSIP/110@trunk-110", "PJSIP/3001@trunk-remote"])
def test_configured_endpoints_are_safe_dial_strings(endpoint):
    assert check_endpoint(endpoint) == endpoint


@pytest.mark.parametrize("endpoint", ["PJSIP/1001&PJSIP/line-119", "PJSIP/1001&Local/x@y",
                                      "PJSIP/1001,30", "Local/119@from-trunk", "PJSIP/",
                                      "PJSIP/1001@127.0.4.1", "PJSIP/1001\n", "PJSIP/１００１"])
def test_anything_else_is_refused_as_a_dial_string(endpoint):
    with pytest.raises(UnsafeDialString):
        check_endpoint(endpoint)


def test_caller_number_is_ascii_digits_or_nothing():
    assert caller_number("13800138000") == "13800138000"
    assert caller_number("+8613800138000") == "+8613800138000"
    for raw in ("", "1380013800&", '"x" <1>', "١٢٣", "1" * 33, "++86138", "86+138", "+"):
        assert caller_number(raw) == ""


def test_known_headers_keep_to_their_rules_and_the_rest_is_dropped():
    assert clean_header("X-Work-Order", "WO-20261201-0001") == "WO-20261201-0001"
    assert clean_header("X-Work-Order", "WO-" + "1" * 70) is None          # too long
    assert clean_header("X-Work-Order", "WO-1,PJSIP/line-119") is None     # bad characters
    assert clean_header("X-Origin-Site", "12345") == "12345"
    assert clean_header("X-IVR-Choice", "police") == "police"
    assert clean_header("X-IVR-Choice", "police;fire") is None
    assert clean_header("X-Evil", "1") is None
    info = "<urn:hotline-link:incidentid:WO-20261201-0001>;purpose=emergency-IncidentId"
    assert clean_header("Call-Info", info) == info
    assert clean_header("Call-Info", info + ",<http://evil>") is None


def test_uri_source_is_the_address_a_line_is_rung_at():
    assert uri_source("sip:119@127.0.4.1:5060") == "127.0.4.1:5060"
    assert uri_source("sip:power@127.0.4.7") == "127.0.4.7"
    with pytest.raises(ValueError):
        uri_source("http://127.0.4.1/")


@pytest.fixture
def files():
    settings = load_settings(env={"HOTLINE_MODE": "lab"})
    return render_site(settings, settings.site("12345"), SiteDirs.under("/x"))


def test_no_endpoint_is_identified_by_its_from_user(files):
    pjsip = files["pjsip.conf"]
    order = re.search(r"endpoint_identifier_order = (.*)", pjsip).group(1)
    assert "username" not in order.replace("auth_username", "") and "anonymous" not in order
    sections = re.split(r"\n(?=\[)", pjsip)
    endpoints = [s for s in sections if re.match(r"\[[^\]]+\]\(hl-endpoint\)", s)]
    template = next(s for s in sections if s.startswith("[hl-endpoint](!)"))
    assert "identify_by = ip" in template
    for section in endpoints:
        name = section.split("]")[0][1:]
        if name.isdigit():   # a seat
            assert "identify_by = auth_username" in section and f"auth = {name}-auth" in section
        else:
            assert "identify_by" not in section   # the template's: ip


def test_trunks_and_lines_are_identified_by_address_and_port(files):
    pjsip = files["pjsip.conf"]
    assert "endpoint = trunk-110\nmatch = 127.0.0.12:5060" in pjsip
    assert "endpoint = line-119\nmatch = 127.0.4.1:5060" in pjsip


def test_every_dial_in_the_dialplan_takes_a_checked_number(files):
    dials = [line for line in files["extensions.conf"].splitlines() if "Dial(" in line]
    assert dials
    for line in dials:
        assert "Dial(PJSIP/${FILTER(0-9," in line, line
        exten = line.split("=>", 1)[1].split(",", 1)[0].strip() if "exten" in line else None
        assert exten is None or "." not in exten, line
    assert "PJSIP_HEADERS(" not in files["extensions.conf"]   # no header named by the caller


def test_trunk_headers_are_filtered_and_length_limited(files):
    text = files["extensions.conf"]
    for rule in TRUNK_HEADERS:
        assert f"${{FILTER({rule.asterisk_chars},${{PJSIP_HEADER(read,{rule.name})}})}}" in text
        assert f"${{LEN(${{{rule.variable}}})}} > {rule.max_len}" in text
        assert f"PJSIP_HEADER(add,{rule.name})=${{{rule.variable}}}" in text
    assert "PJSIP_HEADER(read,X-IVR-Choice)" in text.split("[from-trunk]")[0]
    assert "X-IVR-Choice" not in text.split("[from-trunk]")[1]


def test_ami_user_may_read_and_write_the_system_class_only(files):
    manager = files["manager.conf"]
    assert re.search(r"^read = system$", manager, re.MULTILINE)
    assert re.search(r"^write = system$", manager, re.MULTILINE)


class _RecordingAri:
    def __init__(self):
        self.originated: list[tuple[str, str]] = []

    async def originate(self, endpoint, **kwargs):
        self.originated.append((endpoint, kwargs["caller_id"]))


async def test_switch_refuses_an_unsafe_dial_string_and_a_caller_id_of_anything_but_digits():
    from telephony.ari.calls import AriSwitch, Dialer
    from telephony.calls.ports import SeatAt, SwitchError

    ari = _RecordingAri()
    switch = AriSwitch(ari, "hotline", Dialer(handover={}))  # type: ignore[arg-type]
    with pytest.raises(SwitchError):
        await switch.ring(SeatAt("1001&PJSIP/line-119", "12345", "12345"), "leg", "13800138000",
                          (), "seat,c", 20)
    await switch.ring(SeatAt("1001", "12345", "12345"), "leg", '1" <119>', (), "seat,c", 20)
    assert ari.originated == [("PJSIP/1001", "")]


def test_transfer_targets_ring_only_configured_lines():
    from telephony.ari.calls import Dialer
    from telephony.calls.ports import LineOut

    dialer = Dialer(handover={}, lines=frozenset({"119"}))
    assert dialer.dial_string(LineOut("119")) == "PJSIP/line-119"
    for line in ("120", "119&PJSIP/1001", None):
        with pytest.raises(UnsafeDialString):
            dialer.dial_string(LineOut(line))
