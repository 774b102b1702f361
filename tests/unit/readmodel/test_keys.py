"""The key layout: entries short and in the order of the meeting ids; every
key the Lua scripts build named in ``readmodel.keys``."""

from __future__ import annotations

import re
from importlib import resources

import pytest
from hypothesis import given
from hypothesis import strategies as st

from readmodel.keys import Keyspace, entry, meeting_id_of, organization_of

IDS = st.integers(1, 2**63 - 1)
BUILT_FROM_BASE = re.compile(r"\bbase \.\. '([^']*)'")
"""A key a script builds from an organization's base: ``base .. ':s:' .. series``."""


@given(IDS, IDS)
def test_entries_sort_as_their_ids(a: int, b: int) -> None:
    assert (entry(a) < entry(b)) == (a < b)


@given(IDS)
def test_an_entry_names_its_meeting(meeting_id: int) -> None:
    assert meeting_id_of(entry(meeting_id)) == meeting_id
    assert meeting_id_of(entry(meeting_id).encode()) == meeting_id


def test_entries_are_short() -> None:
    assert [entry(9), entry(10), entry(12345), entry(2**63 - 1)] == [
        "a9",
        "b10",
        "e12345",
        "s9223372036854775807",
    ]


@pytest.mark.parametrize("meeting_id", [0, -1, 2**63 * 10])
def test_no_entry_for_an_id_out_of_range(meeting_id: int) -> None:
    with pytest.raises(ValueError, match="not a positive 64-bit id"):
        entry(meeting_id)


def _lua_sources() -> dict[str, str]:
    folder = resources.files("readmodel").joinpath("lua")
    return {item.name: item.read_text() for item in folder.iterdir() if item.name.endswith(".lua")}


def test_every_key_the_scripts_build_is_named_in_keys() -> None:
    """A suffix a script appends to an organization's ``base`` (``base .. ':s:'``)
    must be one ``OrgKeys`` builds: else keys.py no longer tells the layout."""
    org = Keyspace("p", "1").org(5)
    named = [
        org.start,
        org.end,
        org.doc,
        org.meta,
        org.gone,
        org.links,
        org.eap,
        org.tokens,
        org.users,
        org.series(7),
        org.copied_from(9),
    ]
    built = {
        (name, suffix)
        for name, source in _lua_sources().items()
        for suffix in BUILT_FROM_BASE.findall(source)
    }
    assert built, "the organization scripts build keys from base: the scan finds none"
    for name, suffix in sorted(built):
        assert any(key.startswith(org.base + suffix) for key in named), (
            f"lua/{name} builds <base>{suffix}, which readmodel/keys.py's OrgKeys does not name"
        )


def test_the_scan_of_built_keys_would_see_an_unnamed_one() -> None:
    assert BUILT_FROM_BASE.findall("redis.call('DEL', base .. ':new:' .. x)") == [":new:"]


@given(st.integers(1, 2**63 - 1))
def test_an_organizations_keys_tell_their_organization(organization_id: int) -> None:
    keyspace = Keyspace("um", "3")
    org = keyspace.org(organization_id)

    assert org.base.startswith(keyspace.orgs_prefix)
    assert organization_of(org.start.encode()) == organization_id
    assert organization_of(keyspace.meeting(organization_id).state.encode()) is None
