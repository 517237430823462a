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
