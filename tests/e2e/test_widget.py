"""The "Upcoming sessions" widget in real headless Chromium, on ``python -m api``'s /demo.

Chromium is Debian's (``scripts/install-browser``), driven by the PyPI
``playwright`` package; Playwright's own browser download is never used.
Screenshots go to ``artifacts/``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from devstack.demo import DEMO_ORGANIZATION, DEMO_TOKEN, demo_events
from events.publisher import KafkaEventPublisher
from tests.builders import leader, registration_created, scheduled
from tests.system import REPO, System

CHROMIUM = Path("/usr/bin/chromium")

ARTIFACTS = REPO / "artifacts"
# The machine's network is closed: without these Chromium keeps dialling out.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
JANE_AVATAR = "https://heypeers-assets.s3.amazonaws.com/users/avatars/thumb/4501.png"
AVATAR_SVG = b"""<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64">
<defs><linearGradient id="g" x1="0" y1="0" x2="1" y2="1">
<stop offset="0" stop-color="#f9a8d4"/><stop offset="1" stop-color="#a78bfa"/>
</linearGradient></defs>
<rect width="64" height="64" fill="url(#g)"/>
<circle cx="32" cy="25" r="11" fill="#fff" fill-opacity=".92"/>
<path d="M12 60c2-12 10-18 20-18s18 6 20 18z" fill="#fff" fill-opacity=".92"/></svg>"""

# The demo organization's list, soonest first, with one meeting of our own
# that is full: (name, location badge, seats, facilitator).
EXPECTED = [
    ("Morning Grief Support Circle", "HeyPeers", "9 seats left", "Jane D."),
    ("Evening Recovery Check-in", "Zoom", "20 seats left", "Sam L."),
    ("Mindful Breathing Workshop", "HeyPeers", "Full", "Priya S."),
    ("Counseling Drop-in (HPC)", "Zoom", "7 seats left", "Ana"),
    ("Morning Grief Support Circle", "HeyPeers", "11 seats left", "Jane D."),
    ("Morning Grief Support Circle", "HeyPeers", "12 seats left", "Jane D."),
    ("Morning Grief Support Circle", "HeyPeers", "12 seats left", "Jane D."),
]


def playwright_api() -> Any:
    """``playwright.async_api``; the test skips without it or without Chromium."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing: run scripts/install-browser (Debian's chromium)")
    return pytest.importorskip(
        "playwright.async_api", reason="the playwright package is missing (a dev dependency)"
    )


def full_meeting(now: datetime) -> list[dict[str, Any]]:
    """A meeting whose two seats are taken, the day after the demo's first."""
    start = (now + timedelta(days=2)).replace(hour=18, minute=0, second=0, microsecond=0)
    meeting = scheduled(
        meeting_id=9700,
        organization_id=DEMO_ORGANIZATION,
        name="Mindful Breathing Workshop",
        start_time=start.isoformat().replace("+00:00", "Z"),
        end_time=(start + timedelta(minutes=45)).isoformat().replace("+00:00", "Z"),
        topic="Anxiety",
        description="Short guided breathing practices for busy days.",
        location="heypeers",
        meeting_series_id=None,
        max_attendees=2,
        group_leader=leader(id=4700, first_name="Priya", last_name="Shah", avatar_url=None),
    )
    seats = [
        registration_created(registration_id=9700 + user, meeting_id=9700, user_id=user)
        for user in (8001, 8002)
    ]
    return [meeting, *seats]


PARTNER = "https://partner.example"
CSP_OF_PAGE = (
    "fetch(location.href).then(response => response.headers.get('content-security-policy'))"
)


def test_the_api_serves_the_script_the_demo_page_and_cors_for_listed_origins(
    system: System,
) -> None:
    system.start(
        "api",
        API_DEMO_ORGANIZATION_ID=str(DEMO_ORGANIZATION),
        API_DEMO_TOKEN='<"token">',
        API_CORS_ORIGINS=f" {PARTNER}/ , https://other.example",
    )
    system.wait_for(lambda: system.get("/healthz").status_code == 200, "the API to answer")
    base = f"http://127.0.0.1:{system.api_port}"

    script = httpx.get(f"{base}/widget/upcoming-sessions.js")
    assert script.status_code == 200
    assert script.headers["content-type"].startswith("text/javascript")
    assert "max-age" in script.headers["cache-control"]
    assert b"customElements.define" in script.content
    again = httpx.get(script.url, headers={"If-None-Match": script.headers["etag"]})
    assert again.status_code == 304

    demo = httpx.get(f"{base}/demo")
    assert demo.status_code == 200
    assert demo.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in demo.headers["content-security-policy"]
    assert 'organization="5"' in demo.text
    assert 'token="&lt;&quot;token&quot;&gt;"' in demo.text and '<"token">' not in demo.text

    url = f"{base}/api/v2/organizations/5/upcoming_meetings"
    preflight = {"Access-Control-Request-Method": "GET"}
    preflight["Access-Control-Request-Headers"] = "authorization"
    allowed = httpx.options(url, headers={"Origin": PARTNER, **preflight})
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == PARTNER
    assert "authorization" in allowed.headers["access-control-allow-headers"].lower()
    refused = httpx.options(url, headers={"Origin": "https://evil.example", **preflight})
    assert "access-control-allow-origin" not in refused.headers
    listed = httpx.get(url, headers={"Origin": PARTNER})
    assert listed.headers["access-control-allow-origin"] == PARTNER

    for response in (script, again, demo, allowed, refused, listed):
        assert response.headers.get_list("x-content-type-options") == ["nosniff"], response
        assert "server" not in response.headers, response


@pytest.fixture
async def demo_api(system: System) -> System:
    """Projector and API running, the API with the demo configured, the demo loaded."""
    system.start("projector")
    system.start(
        "api",
        API_DEMO_ORGANIZATION_ID=str(DEMO_ORGANIZATION),
        API_DEMO_TOKEN=DEMO_TOKEN,
    )
    system.wait_for(lambda: system.get("/readyz").status_code == 200, "the API to be ready")
    now = datetime.now(UTC)
    async with KafkaEventPublisher(system.bootstrap_servers, system.topics) as publisher:
        await publisher.publish_many(demo_events(now))
    await system.publish(full_meeting(now))
    await system.wait_caught_up()
    return system


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    async with playwright_api().async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
        )
        try:
            yield chromium
        finally:
            await chromium.close()


async def open_demo(browser: Any, system: System, **context_options: Any) -> Any:
    """A page on /demo (en-US, UTC) with the list shown; avatars served locally."""
    context = await browser.new_context(locale="en-US", timezone_id="UTC", **context_options)

    async def avatars(route: Any) -> None:
        if route.request.url == JANE_AVATAR:
            await route.fulfill(status=200, content_type="image/svg+xml", body=AVATAR_SVG)
        else:  # the default avatar: unreachable, so the initials show
            await route.abort()

    await context.route("https://**/*", avatars)
    # Init scripts run whatever the page's policy: this one records what it refuses.
    await context.add_init_script(
        "window.__refused = [];"
        "document.addEventListener('securitypolicyviolation', event =>"
        " window.__refused.push(event.violatedDirective + ' ' + event.blockedURI));"
    )
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    await page.goto(f"http://127.0.0.1:{system.api_port}/demo")
    await playwright_api().expect(page.locator("upcoming-sessions article").first).to_be_visible()
    assert errors == []
    assert await page.evaluate("window.__refused") == []
    return page


def texts(page: Any, selector: str) -> Any:
    return page.locator(f"upcoming-sessions {selector}").all_inner_texts()


async def focused_label(page: Any) -> str | None:
    label: str | None = await page.evaluate(
        "document.querySelector('upcoming-sessions').shadowRoot.activeElement"
        "?.getAttribute('aria-label') ?? null"
    )
    return label


async def test_the_demo_page_shows_the_demo_organizations_sessions(
    browser: Any, demo_api: System
) -> None:
    expect = playwright_api().expect
    page = await open_demo(browser, demo_api, viewport={"width": 1024, "height": 900})
    widget = page.locator("upcoming-sessions")

    await expect(widget.locator("article")).to_have_count(5)
    assert await texts(page, "article h3") == [name for name, *_ in EXPECTED[:5]]
    assert await texts(page, ".location .value") == [badge for _, badge, *_ in EXPECTED[:5]]
    assert await texts(page, ".seats .value") == [seats for *_, seats, _ in EXPECTED[:5]]
    assert await texts(page, ".leader .name") == [name for *_, name in EXPECTED[:5]]
    first = widget.locator("article").first
    await expect(first.locator(".when")).to_contain_text("3:00")
    await expect(first.locator(".duration .value")).to_have_text("1 hour")
    await expect(first.locator(".topic .value")).to_have_text("Grief & Loss")
    await expect(first.locator(".avatar img")).to_have_attribute("alt", "")
    await expect(widget.locator(".page-label")).to_have_text("Page 1 of 2")
    await expect(widget.locator(".status")).to_have_text(
        "Page 1 of 2: showing sessions 1 to 5 of 7."
    )
    await expect(widget.get_by_role("button", name="Previous page")).to_be_disabled()
    await expect(widget.get_by_role("button", name="Next page")).to_be_enabled()
    await expect(page.get_by_role("region", name="Upcoming sessions")).to_be_visible()

    # Styled under the page's Content-Security-Policy: the page's inline style
    # (allowed by its hash) and the widget's own stylesheet.
    assert "'unsafe-inline'" not in (await page.evaluate(CSP_OF_PAGE))
    background = "getComputedStyle(document.body).backgroundColor"
    assert await page.evaluate(background) == "rgb(243, 244, 246)"
    # A custom element is inline unless its stylesheet says otherwise (:host).
    assert await widget.evaluate("element => getComputedStyle(element).display") == "block"

    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=ARTIFACTS / "widget-demo.png", full_page=True)

    # Two a page, then page 2 and back with the keyboard alone.
    await widget.evaluate("element => element.setAttribute('items', '2')")
    await expect(widget.locator(".page-label")).to_have_text("Page 1 of 4")
    for _ in range(10):
        if await focused_label(page) == "Next page":
            break
        await page.keyboard.press("Tab")
    assert await focused_label(page) == "Next page"
    await page.keyboard.press("Enter")
    await expect(widget.locator(".page-label")).to_have_text("Page 2 of 4")
    await expect(widget.locator(".status")).to_have_text(
        "Page 2 of 4: showing sessions 3 to 4 of 7."
    )
    assert await texts(page, "article h3") == [name for name, *_ in EXPECTED[2:4]]
    assert await texts(page, ".seats .value") == ["Full", "7 seats left"]
    assert await focused_label(page) == "Next page"

    await page.keyboard.press("Shift+Tab")
    assert await focused_label(page) == "Previous page"
    await page.keyboard.press("Enter")
    await expect(widget.locator(".page-label")).to_have_text("Page 1 of 4")
    await expect(widget.locator(".status")).to_have_text(
        "Page 1 of 4: showing sessions 1 to 2 of 7."
    )
    await expect(widget.get_by_role("button", name="Previous page")).to_be_disabled()
    assert await focused_label(page) == "Next page"  # not lost with the disabled button

    # A token the API does not know.
    await widget.evaluate("element => element.setAttribute('token', 'not-a-token')")
    await expect(widget.locator(".state.error")).to_contain_text("Not authorized")
    await expect(widget.locator(".status")).to_contain_text("Not authorized")
    await expect(widget.locator(".pager")).to_be_hidden()
    await page.context.close()


async def test_the_demo_page_is_readable_on_a_phone(browser: Any, demo_api: System) -> None:
    page = await open_demo(
        browser,
        demo_api,
        viewport={"width": 360, "height": 780},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
    )
    await playwright_api().expect(page.locator("upcoming-sessions article")).to_have_count(5)
    overflow = await page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, "the page scrolls sideways at 360 px"
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=ARTIFACTS / "widget-mobile.png", full_page=True)
    await page.context.close()
