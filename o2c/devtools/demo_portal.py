"""The demo's side of the customer portal: a sign-in link for one demo customer, and what to print.

The link is issued straight from ``o2c.web.portal.links`` (no email goes out): it is single-use and lasts
30 minutes, like the links the sign-in page emails. Another one comes from the sign-in page with the
customer's address, the email landing in the SendGrid sink."""

from dataclasses import dataclass
from urllib.parse import quote

from sqlalchemy import Engine

from o2c.web.portal.links import issue_link_for

DEMO_CUSTOMER = "INITECH"  # two invoices of the demo's partly shipped order stay open: to dispute or promise
LINK_MINUTES = 30


@dataclass(frozen=True)
class DemoSignIn:
    customer_id: str
    customer_name: str
    email: str
    url: str


def demo_sign_in(engine: Engine, public_url: str, customer_id: str = DEMO_CUSTOMER) -> DemoSignIn | None:
    """A fresh single-use sign-in link for the demo customer; None when the demo has not made them yet."""
    link = issue_link_for(engine, customer_id, LINK_MINUTES)
    if link is None:
        return None
    url = f"{public_url.rstrip('/')}/portal/link/{quote(link.token)}"
    return DemoSignIn(link.customer_id, link.customer_name, link.email, url)


def portal_lines(url: str, sign_in: DemoSignIn | None) -> str:
    """What ``o2c dev`` prints about the portal: its URL and, after the demo, a link that signs in."""
    lines = [f"\nCustomer portal: {url}/portal"]
    if sign_in is None:
        lines.append("  Customers sign in with the email address their invoices go to (the link lands in the sink).")
        return "\n".join(lines)
    lines.append(f"  Sign in as demo customer {sign_in.customer_name} ({sign_in.customer_id}) with this link:")
    lines.append(f"    {sign_in.url}")
    lines.append(
        f"  It works once, for {LINK_MINUTES} minutes (`o2c dev --demo` prints a new one each start); after that,\n"
        f"  ask the sign-in page for one with {sign_in.email}: it lands in the SendGrid sink."
    )
    return "\n".join(lines)
