"""Email through SendGrid, exactly once per business event.

Modules: ``outbox`` (the send itself, once per key), ``facts`` (what a template is filled with),
``sending`` (the ``send_email`` activity: who gets what, with which attachments), ``templates``."""

from activities.email.facts import customer_facts, order_facts
from activities.email.outbox import Outbox, sendgrid_client
from activities.email.sending import EmailActivities
from activities.email.templates import Rendered, header_text, render

__all__ = [
    "EmailActivities",
    "Outbox",
    "Rendered",
    "customer_facts",
    "header_text",
    "order_facts",
    "render",
    "sendgrid_client",
]
