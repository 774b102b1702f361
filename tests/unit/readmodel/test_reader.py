"""The compatibility reader of layout 1 lives exactly as long as layout 1 is read."""

from __future__ import annotations

from readmodel.keys import LAYOUT, OrgKeys
from readmodel.reader import READABLE_LAYOUTS
from readmodel.scripts import lua_source

LAYOUT_1_READER = "LAYOUT 1 ONLY"
"""The comment that opens read_member.lua's reading of layout-1 members' lists."""


def test_the_layout_1_members_lists_are_read_exactly_while_layout_1_is_served() -> None:
    """Once no deployment serves layout 1, take 1 out of ``READABLE_LAYOUTS``:
    this test then fails until read_member.lua's fallback and
    ``OrgKeys.member_list_layout1`` are gone too (and the other way round)."""
    reads_layout_1 = 1 in READABLE_LAYOUTS
    source = lua_source("read_member")

    assert (LAYOUT_1_READER in source) == reads_layout_1
    assert ("ZRANGE', before" in source) == reads_layout_1
    assert hasattr(OrgKeys, "member_list_layout1") == reads_layout_1


def test_the_api_reads_the_layout_the_projector_writes() -> None:
    assert LAYOUT in READABLE_LAYOUTS
