"""Pay online: every bank-transfer invoice carries a signed link (``o2c.platform.paylinks``) to a page where
the customer pays it by card.

Opening the page creates (or reuses) one Stripe PaymentIntent for what is still open on the invoice. In the
browser Stripe.js turns the card into a PaymentMethod (card data never reaches us); the page posts its id
back and the server confirms the PaymentIntent with it. Stripe's ``payment_intent.succeeded`` webhook then
brings the payment to the order like any other card payment. Stripe's own Payment Links need Prices,
which localstripe lacks; this page works against both. Against localstripe (whose Stripe.js stand-in
cannot create PaymentMethods) the page offers Stripe's test card ``pm_card_visa`` instead.

- ``intents``: one PaymentIntent per invoice and amount, claimed on the invoice's row before it is confirmed.
- ``page``: the HTTP handlers, the link's check and the HTML.
"""

from o2c.web.paylink.page import PayPage

__all__ = ["PayPage"]
