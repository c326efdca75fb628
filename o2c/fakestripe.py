"""localstripe, the stand-in for Stripe on the dev stack and in the tests, started without its disk copy.

localstripe pickles its whole store to ``/tmp/localstripe.pickle`` after every write, several times per
request: each PaymentIntent then costs time in proportion to everything created before it (85% of its CPU
after a few thousand charges, a third of a core at 6 orders/s), and every localstripe on the machine
writes the same file. We always start it from scratch, so nothing ever reads that copy: this launcher
turns the writing off and starts localstripe's own server (``--port`` as localstripe takes it).

    python -m o2c.fakestripe --port 8420
"""

import sys

from localstripe import resources, server


def _no_disk_copy(self: resources.Store) -> None:
    """The store lives in memory only (it is never loaded: we start ``--from-scratch``)."""


def main() -> None:
    resources.Store.dump_to_disk = _no_disk_copy
    if "--from-scratch" not in sys.argv:
        sys.argv.append("--from-scratch")
    server.start()


if __name__ == "__main__":
    main()
