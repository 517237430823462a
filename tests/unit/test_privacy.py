import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.privacy import mask_number


@pytest.mark.parametrize(
    ("number", "masked"),
    [
        ("13800138000", "138****8000"),
        ("138 0013 8000", "138****8000"),
        ("+8613800138000", "+86138****8000"),
        ("008613800138000", "0086138****8000"),
        ("01012345678", "010****5678"),
        ("0931-8812345", "093****2345"),
        ("88123456", "******56"),
        ("12345", "****5"),
        ("110", "***"),
        ("", ""),
        (None, ""),
        ("anonymous", "********"),
    ],
)
def test_mask_number_hides_the_middle_of_known_shapes(number, masked):
    assert mask_number(number) == masked


@given(st.text(alphabet="0123456789", min_size=1, max_size=20))
def test_masked_number_never_reveals_more_than_three_plus_four_digits(digits):
    masked = mask_number(digits)
    shown = re.sub(r"\D", "", masked)
    assert len(shown) <= 7
    assert len(shown) <= len(digits) // 2 + 2
    assert "*" in masked


@given(st.text(alphabet="0123456789", min_size=11, max_size=11))
def test_masked_mobile_keeps_first_three_and_last_four(digits):
    assert mask_number(digits) == digits[:3] + "****" + digits[-4:]


# ---- numbers inside log text (issue 13): every shape, and nothing else ------------------------
NUMBER_SHAPES = [
    ("13800138000", "138****8000"),
    ("+8613800138000", "+86138****8000"),
    ("008613800138000", "0086138****8000"),
    ("8613800138000", "86138****8000"),
    ("013800138000", "013*****8000"),
    ("138-0013-8000", "138****8000"),
    ("138 0013 8000", "138****8000"),
    ("010-12345678", "010****5678"),
    ("0379 6123456", "037****3456"),
    ("037961234567", "037*****4567"),
    ("+86 379 61234567", "+863******4567"),
    ("0086-10-12345678", "008*******5678"),
]
NOT_NUMBERS = [
    "WO-20261201-0123456789AB", "1733052000.123", "2026-12-01 13:49:11,123",
    "127.0.0.10:6379", "PJSIP/1001-0000002a", "7f3a0123-4567-8901-2345-678901234567",
    "call a0123456789", "138****8000", "seat 1001 port 5060",
]


@pytest.mark.parametrize(("number", "masked"), NUMBER_SHAPES)
def test_mask_text_masks_every_number_shape_in_a_line(number, masked):
    from services.privacy import mask_text

    assert mask_text(f"citizen sip:{number}@127.0.0.11 rang") == \
        f"citizen sip:{masked}@127.0.0.11 rang"


@pytest.mark.parametrize("text", NOT_NUMBERS)
def test_mask_text_leaves_ids_times_and_addresses_alone(text):
    from services.privacy import mask_text

    assert mask_text(text) == text


def test_a_traceback_quoting_numbers_is_masked_in_the_log(capsys):
    import logging

    from telephony.logs import configure_logging

    root = logging.getLogger()
    saved = root.handlers[:], root.level
    configure_logging("INFO")
    try:
        raise ValueError("bad caller +8613800138000 / 0379-61234567")
    except ValueError:
        logging.getLogger("hotline.test").exception("call of %s failed", "013800138000")
    finally:
        root.handlers[:], _ = saved[0], root.setLevel(saved[1])
    err = capsys.readouterr().err
    assert "Traceback" in err and "ValueError" in err
    for whole in ("8613800138000", "13800138000", "61234567"):
        assert whole not in err
    assert "+86138****8000" in err and "013*****8000" in err
