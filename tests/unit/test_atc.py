from datetime import date
from decimal import Decimal

import pytest

from odoolake.bir.atc import is_valid_rate, payee_type_of, rates_for
from odoolake.errors import BirRuleError


def test_twa_goods_rate_change_applies_by_date():
    assert is_valid_rate("WC158", date(2025, 10, 9), Decimal("1"))
    assert not is_valid_rate("WC158", date(2025, 10, 9), Decimal("0.5"))
    assert is_valid_rate("WC158", date(2025, 10, 10), Decimal("0.5"))


def test_retired_code_is_not_in_force_after_replacement():
    assert rates_for("WC760", date(2024, 6, 1))
    assert rates_for("WC760", date(2025, 6, 1)) == []


def test_unknown_atc_is_a_clear_error():
    with pytest.raises(BirRuleError, match="Unknown ATC 'WX999'"):
        rates_for("WX999", date(2026, 1, 1))


def test_payee_type_from_prefix():
    assert payee_type_of("WI010") == "individual"
    assert payee_type_of("wc160") == "corporation"
