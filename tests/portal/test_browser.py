"""A customer on a phone signs in by the emailed link, sees what is still open, and downloads the PDF."""

import asyncio
from pathlib import Path
from typing import Any

from o2c.web.console.pages import money
from tests.portal.conftest import ACME, mail_to, make_stack
from tests.support import BackgroundServer, Database, free_port


async def test_sign_in_by_link_see_the_open_amount_and_download_the_pdf(sqlite_db: Database, phone: Any) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    stack = make_stack(sqlite_db, url)
    async with BackgroundServer(stack.app, port):
        await phone.goto(f"{url}/portal")
        assert phone.url == f"{url}/portal/sign-in"
        await phone.get_by_label("Email address").fill(ACME)
        await phone.get_by_role("button", name="Email me a sign-in link").click()
        await phone.get_by_role("heading", name="Check your email").wait_for()
        [link] = await mail_to(stack, ACME)
        assert link.startswith(f"{url}/portal/link/")

        await phone.goto(link)
        await phone.get_by_role("button", name="Continue to your account").click()
        row = phone.locator("tr[data-invoice='INV-1']")
        await row.wait_for()
        assert (await row.locator(".open-amount").inner_text()).strip() == money(60_00, "USD", "en_GB")
        assert await phone.locator("tr[data-invoice='INV-9']").count() == 0

        async with phone.expect_download() as download_info:
            await phone.get_by_label("INV-1 as PDF").click()
        download = await download_info.value
        assert download.suggested_filename == "INV-1.pdf"
        saved = await asyncio.to_thread(Path(await download.path()).read_bytes)
        assert saved == stack.documents["INV-1"].pdf
