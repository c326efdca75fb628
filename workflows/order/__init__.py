"""OrderToCash: the order's workflow (``workflow``), its state (``book``), the rules that refuse decisions
(``rules``), its timers (``schedule``), the messages it takes (``messages``) and one module per stage:
``credit``, ``fulfillment``, ``invoicing``, ``payments``, ``collections``."""

from workflows.order.workflow import OrderToCash

__all__ = ["OrderToCash"]
