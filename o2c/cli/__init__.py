"""The ``o2c`` command: the dev stack, the worker and the services, and orders and finance by hand.

One module per command group: ``services`` (what a deployment runs), ``orders``, ``finance`` and
``customers``, ``cash``, and ``dev`` (development tools, imported only when such a command runs)."""

import argparse
import contextlib
import logging
import os
import sys
import traceback
from typing import NoReturn

from o2c.cli.cash import add_cash_commands
from o2c.cli.dev import add_dev_commands
from o2c.cli.finance import add_finance_commands
from o2c.cli.orders import add_order_commands
from o2c.cli.services import add_service_commands
from o2c.cli.users import add_user_commands
from o2c.platform.config import get_settings
from o2c.platform.log import configure_logging


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="o2c", description=(__doc__ or "").splitlines()[0])
    sub = root.add_subparsers(dest="command", required=True)
    for add_commands in (
        add_service_commands,
        add_order_commands,
        add_finance_commands,
        add_cash_commands,
        add_user_commands,
        add_dev_commands,
    ):
        add_commands(sub)
    return root


def run(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)
    return int(args.run(args))


def main(argv: list[str] | None = None) -> NoReturn:
    """The ``o2c`` console script: the process ends with the exit code of the command's own work.

    The Temporal SDK's Rust runtime can abort the interpreter's shutdown after the work is done
    (sdk-python #300, ``PyGILState_Release``: SIGABRT, exit code 134, in 4 of 60 ``o2c order start`` runs
    measured), which a script reads as a failure. So once the command is done and its output flushed, the
    process ends here, without the interpreter's shutdown. Nothing is lost: every unit of work has committed
    before its caller returned, and the operating system closes files and locks with the process."""
    try:
        code = run(argv)
    except SystemExit as exc:  # argparse's usage errors and --help
        code = _exit_code(exc)
    except KeyboardInterrupt:
        code = 130
    except BaseException:
        traceback.print_exc()
        code = 1
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe: nothing more can reach its reader
            stream.flush()
    logging.shutdown()
    os._exit(code)


def _exit_code(exc: SystemExit) -> int:
    if exc.code is None or isinstance(exc.code, int):
        return exc.code or 0
    print(exc.code, file=sys.stderr)
    return 1
