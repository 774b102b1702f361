"""The demo page's Content-Security-Policy (``api/widget.py``).

The browser test (tests/e2e/test_widget.py) shows the page working under it.
"""

from __future__ import annotations

import base64
import hashlib
import re

from api.widget import STYLE, demo_policy, demo_template, render_demo


def directives() -> dict[str, list[str]]:
    policy: dict[str, list[str]] = {}
    for directive in demo_policy().split(";"):
        name, *sources = directive.split()
        assert name not in policy, name
        policy[name] = sources
    return policy


def test_nothing_runs_but_the_widget_from_the_apis_own_origin() -> None:
    policy = directives()
    assert policy["default-src"] == ["'none'"]
    assert policy["script-src"] == ["'self'"]
    assert policy["connect-src"] == ["'self'"]
    for name in ("base-uri", "form-action", "frame-ancestors"):
        assert policy[name] == ["'none'"], name
    assert not any("unsafe" in source for sources in policy.values() for source in sources)


def test_the_pages_inline_style_is_allowed_by_its_hash_alone() -> None:
    [style] = STYLE.findall(demo_template())
    digest = base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()
    assert directives()["style-src"] == [f"'sha256-{digest}'"]


def test_the_page_served_keeps_the_style_the_policy_hashes() -> None:
    page = render_demo(demo_template(), "https://api.example", 5, "{{origin}}<b>", 412)
    assert STYLE.findall(page) == STYLE.findall(demo_template())


def test_the_page_has_no_inline_script_and_no_event_handler_attribute() -> None:
    template = demo_template()
    scripts = re.findall(r"<script\b([^>]*)>(.*?)</script>", template, re.DOTALL)
    assert scripts == [(' src="/widget/upcoming-sessions.js" defer', "")]
    assert re.search(r"\son[a-z]+\s*=", template) is None
    assert "javascript:" not in template.lower()
