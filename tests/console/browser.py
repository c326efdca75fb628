"""Browser steps the console tests share."""

import os
from pathlib import Path
from typing import Any

from o2c.access import Role
from tests.console.conftest import PASSWORD, ConsoleStack

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


async def sign_in(page: Any, stack: ConsoleStack, role: Role) -> None:
    await page.goto(f"{stack.url}/login")
    await page.get_by_label("Username").fill(stack.users[role])
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(f"{stack.url}/")


async def screenshot(page: Any, name: str) -> None:
    """Saves the page for the README when O2C_SCREENSHOTS=1 (the same browser tests make them)."""
    if os.environ.get("O2C_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
