"""Activities: every call to the database, Stripe and SendGrid, one home per order-to-cash stage.

``orders``, ``credit``, ``fulfillment``, ``invoicing``, ``documents``, ``payments``, ``collections``,
``cash_application``, ``ledger``, ``customers`` and ``email``; ``records`` and ``context`` hold what
they all share. ``registry.build_activities`` wires them to real clients for a worker."""
