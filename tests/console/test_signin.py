"""Signing in and out of the console, in the browser and over HTTP."""

from typing import Any

from o2c.access import Role
from tests.console.browser import sign_in
from tests.console.conftest import ConsoleStack


async def test_each_role_signs_in_and_sees_the_work_queues(stack: ConsoleStack, page: Any) -> None:
    await sign_in(page, stack, Role.CREDIT_CONTROLLER)
    assert await page.get_by_role("heading", name="Work queues").is_visible()
    await page.get_by_role("button", name="Sign out").click()
    await page.wait_for_url(f"{stack.url}/login")
    await page.goto(f"{stack.url}/")
    assert page.url.startswith(f"{stack.url}/login")


async def test_wrong_password_is_refused_and_repeated_failures_are_throttled(stack: ConsoleStack) -> None:
    import httpx

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=stack.app), base_url="http://console.test") as http:
        await http.get("/login")
        token = http.cookies["csrftoken"]
        answers = [
            (
                await http.post("/login", data={"username": "collector", "password": "wrong", "csrftoken": token})
            ).status_code
            for _ in range(6)
        ]
        assert answers == [401] * 5 + [429]
        assert (await http.get("/", follow_redirects=False)).status_code == 303


async def test_a_signed_in_role_reads_the_home_page(stack: ConsoleStack) -> None:
    http = await stack.signed_in(Role.AUDITOR)
    home = await http.get("/")
    assert home.status_code == 200 and "Work queues" in home.text
