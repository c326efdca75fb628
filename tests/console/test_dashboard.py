"""The dashboard: an auditor sees every chart drawn and the aging table's figures in the browser; the charts
are SVG for a signed-in user and lead to the sign-in page without a session. The figures themselves are
checked on both databases in tests/test_trends.py, on the same book (seeded as of today here)."""

import re
from datetime import UTC, datetime
from typing import Any

import httpx

from o2c.access import Role
from o2c.platform.db import snapshot, transaction
from o2c.reporting.reports import BUCKETS
from o2c.reporting.trends import TrendPoint, headline_kpis, kpi_trend, month_ends
from o2c.web.console import reporting
from o2c.web.console.pages import money
from tests.console.browser import screenshot, sign_in
from tests.console.conftest import ConsoleStack
from tests.support import Database
from tests.test_trends import book_invoice, seed_book

CHARTS = ("aging", "kpis", "cash-application", "daily")
# The seeded book's open receivables per bucket today (tests/test_trends.py).
AGING = {"EUR": (0, 80_00, 0, 0, 0), "USD": (380_00, 500_00, 0, 0, 190_00)}


async def test_an_auditor_reads_the_dashboard(stack: ConsoleStack, page: Any) -> None:
    seed_book(stack.db, datetime.now(UTC).date())
    await sign_in(page, stack, Role.AUDITOR)
    await page.get_by_role("link", name="Dashboard").click()
    await page.wait_for_url(f"{stack.url}/dashboard")
    images = page.locator("figure.chart img")
    assert await images.count() == len(CHARTS)
    for n in range(len(CHARTS)):
        image = images.nth(n)
        await image.scroll_into_view_if_needed()
        await page.wait_for_function("image => image.complete", arg=await image.element_handle())
        assert await image.evaluate("image => image.naturalWidth") > 0, await image.get_attribute("src")
        assert len(await image.get_attribute("alt") or "") > 40
    await page.get_by_text("Aging figures").click()
    table = page.locator("#aging-figures")
    for currency, amounts in AGING.items():
        cells = await table.locator(f"#aging-{currency} td").all_inner_texts()
        expected = [money(minor, currency, "en_GB") for minor in (*amounts, sum(amounts))]
        assert cells == expected, (currency, cells)
    assert await table.locator("thead th").all_inner_texts() == ["Currency", *BUCKETS, "Total"]
    await screenshot(page, "dashboard")


async def test_the_charts_are_svg_for_a_signed_in_user_only(stack: ConsoleStack) -> None:
    seed_book(stack.db, datetime.now(UTC).date())
    http = await stack.signed_in(Role.COLLECTOR)
    for days in (30, 90):
        for name in CHARTS:
            answer = await http.get(f"/dashboard/charts/{name}.svg?days={days}")
            assert answer.status_code == 200, (name, answer.status_code)
            assert answer.headers["content-type"] == "image/svg+xml"
            assert b"<svg" in answer.content and b"<script" not in answer.content
    assert (await http.get("/dashboard/charts/nothing.svg")).status_code == 404
    page = await http.get("/dashboard?days=30")
    # The period's receipts: R1 R5 automatically, R8 by hand, R4 waiting; the queue: R4 and R5's rest.
    assert re.search(r"<strong>50\.0%</strong> of receipts applied automatically", page.text)
    assert "US$70.00" in page.text and "€5.00" in page.text
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=stack.app), base_url="http://console.test") as anon:
        for name in CHARTS:
            answer = await anon.get(f"/dashboard/charts/{name}.svg")
            assert answer.status_code == 303
            assert answer.headers["location"] == f"/login?next=/dashboard/charts/{name}.svg"
        assert (await anon.get("/dashboard")).headers["location"] == "/login?next=/dashboard"


def test_past_figures_are_read_once_and_todays_on_every_view(sqlite_db: Database) -> None:
    today = datetime.now(UTC).date()
    seed_book(sqlite_db, today)
    first = reporting.dashboard(sqlite_db.engine, today, 30)
    with transaction(sqlite_db.engine) as session:
        book_invoice(session, "U9", "USD", 45_00, 45_00, today, today)
    again = reporting.dashboard(sqlite_db.engine, today, 30)
    with snapshot(sqlite_db.engine) as session:
        now = headline_kpis(session, today, 30)
        past = kpi_trend(session, month_ends(today, 12)[:-1], 30)
    assert again.trend == [*first.trend[:-1], TrendPoint(today, now)] == [*past, TrendPoint(today, now)]
    assert again.headline == now != first.headline
    assert again.aging["USD"]["current"] == first.aging["USD"]["current"] + 45_00
