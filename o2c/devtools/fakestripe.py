"""localstripe, the stand-in for Stripe on the dev stack and in the tests, started without its disk copy
and with its store indexed by kind.

Two costs of localstripe grow with everything created before a request, which Stripe's do not:

- It pickles its whole store to ``/tmp/localstripe.pickle`` after every write, several times per request
  (85% of its CPU after a few thousand charges, and every localstripe on the machine writes the same
  file). We always start it from scratch, so nothing ever reads that copy: the writing is turned off.
- Listing a kind scans the whole store for keys of that kind, and exporting a charge lists the refunds of
  every charge to find its own (``amount_refunded``), so every PaymentIntent, and the event it sends,
  costs time in proportion to the store: with 800 orders, localstripe was a fifth of the CPU the
  benchmark's stack used (py-spy), CPU taken from the worker and the server on a two-core machine.
  The store now keeps, beside the store, its objects by kind in insertion order (what the scan returned).

    python -m o2c.devtools.fakestripe --port 8420
"""

import sys
from typing import Any

from localstripe import resources, server

# kind ("charge", "refund", ...) -> {store key: object}, in the order the store holds them
_KINDS: dict[str, dict[str, Any]] = {}


def _kind(key: str) -> str | None:
    kind, colon, _ = key.partition(":")
    return kind if colon else None  # singletons ("balance") are stored under their kind alone


def _set(self: resources.Store, key: str, value: Any) -> None:
    dict.__setitem__(self, key, value)
    kind = _kind(key)
    if kind is not None:
        _KINDS.setdefault(kind, {})[key] = value


def _delete(self: resources.Store, key: str) -> None:
    dict.__delitem__(self, key)
    kind = _kind(key)
    if kind is not None:
        _KINDS.get(kind, {}).pop(key, None)


def _clear(self: resources.Store) -> None:
    dict.clear(self)
    _KINDS.clear()


def _list_all(
    cls: type[resources.StripeObject], url: str, limit: Any = None, starting_after: Any = None, **kwargs: Any
) -> Any:
    """``StripeObject._api_list_all`` from the index instead of a scan of the store (same checks, order)."""
    if kwargs:
        raise resources.UserError(400, "Unexpected " + ", ".join(kwargs.keys()))
    listed = resources.List(url, limit=limit, starting_after=starting_after)
    listed._list = list(_KINDS.get(cls.object, {}).values())
    return listed


def _no_disk_copy(self: resources.Store) -> None:
    """The store lives in memory only (it is never loaded: we start ``--from-scratch``)."""


def install() -> None:
    """Patches localstripe's store in this process (before anything is stored)."""
    assert not resources.store, "install before localstripe stores anything"
    resources.Store.dump_to_disk = _no_disk_copy
    resources.Store.__setitem__ = _set
    resources.Store.__delitem__ = _delete
    resources.Store.clear = _clear
    resources.StripeObject._api_list_all = classmethod(_list_all)


def main() -> None:
    install()
    if "--from-scratch" not in sys.argv:
        sys.argv.append("--from-scratch")
    server.start()


if __name__ == "__main__":
    main()
