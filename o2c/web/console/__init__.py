"""The finance console: credit controllers, collectors and AR clerks work their queues here.

Lists are read from our database; every decision is the order workflow's own update (``o2c.client``), sent
with the signed-in user as its ``by``. Pages by stage: ``credit``, ``cash_application``, ``collections``
(disputes, worklist), ``approvals`` (write-offs and refunds above a limit), ``customers`` (360),
``orders``, ``reporting`` (dashboard)."""

from o2c.web.console.app import create_app

__all__ = ["create_app"]
