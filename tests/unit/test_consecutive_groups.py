"""``io.consecutive_groups``: files in order, in groups of up to so many bytes (bronze's append, the native parse)."""

from __future__ import annotations

import pytest

from odoolake.pipeline import io


def test_items_keep_their_order_and_a_group_never_passes_the_limit_unless_one_item_does():
    sizes = [4, 4, 3, 9, 1, 1, 12, 2]
    groups = io.consecutive_groups(list("abcdefgh"), sizes, 8)
    assert groups == [["a", "b"], ["c"], ["d"], ["e", "f"], ["g"], ["h"]]
    assert io.consecutive_groups(list("abc"), [1, 1, 1], 3) == [["a", "b", "c"]], "at the limit: one group"
    assert io.consecutive_groups([], [], 8) == []


def test_sizes_must_match_the_items():
    with pytest.raises(ValueError):
        io.consecutive_groups(["a", "b"], [1], 8)
