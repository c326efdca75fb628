"""What the command groups share: serving an ASGI app and running a client call."""

import asyncio
import sys
from typing import Any

from o2c.platform.config import get_settings


def serve(app: Any, port: int) -> None:
    import uvicorn

    uvicorn.run(app, host=get_settings().bind_host, port=port, log_level="warning")


def run_client(work: Any) -> int:
    from o2c.client import O2CError

    try:
        asyncio.run(work)
    except O2CError as exc:
        print(f"o2c: {exc}", file=sys.stderr)
        return 1
    return 0
