"""The ``o2c`` process exits with the code of its own work, whatever happens at interpreter shutdown.

The Temporal SDK's Rust runtime can abort the shutdown after the work is done (sdk-python #300): an
``o2c order start`` that had started its order exited with 134 (SIGABRT) in 4 of 60 runs before the fix.
"""

import asyncio
import os
import subprocess
import sys
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from models.naming import workflow_id
from tests.support import binary, free_port, sample_order

RUNS = 20
AT_ONCE = 4


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("O2C_", "TEMPORAL_"))}
    return env | {"O2C_STATE_DIR": str(tmp_path / "state"), "O2C_LOG_FORMAT": "json"} | extra


def test_exit_code_is_the_commands_even_when_interpreter_shutdown_aborts(tmp_path: Path) -> None:
    """The crash stands in for the runtime's: an exit handler that aborts, as ``PyGILState_Release`` does."""
    aborting = "import atexit, os, sys; atexit.register(os.abort); from o2c.cli import main; main(sys.argv[1:])"
    closed = f"http://127.0.0.1:{free_port()}"

    def o2c(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-c", aborting, *argv],
            env=_env(tmp_path, O2C_SENDGRID_HOST=closed),
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )

    helped = o2c("--help")
    assert (helped.returncode, helped.stderr) == (0, "")
    assert helped.stdout.startswith("usage: o2c")  # complete: the buffered output was flushed before the end
    failed = o2c("mail")  # the sink does not answer: the command's own failure, code 1
    assert failed.returncode == 1
    assert "did not answer" in failed.stderr
    misused = o2c("order")
    assert misused.returncode == 2  # argparse's usage error keeps its code


async def test_order_start_exits_0_every_time(time_env: WorkflowEnvironment, tmp_path: Path) -> None:
    """README's ``o2c order start`` in a script: every run reports its order and exits 0."""
    address = time_env.client.service_client.config.target_host
    orders = []
    for n in range(RUNS):
        order = sample_order(order_id=f"EXIT-{n}-{tmp_path.name[-8:]}")
        path = tmp_path / f"order-{n}.json"
        path.write_text(order.model_dump_json())
        orders.append((order.order_id, path))
    gate = asyncio.Semaphore(AT_ONCE)

    async def start(path: Path) -> tuple[int | None, str, str]:
        async with gate:
            process = await asyncio.create_subprocess_exec(
                binary("o2c"),
                "order",
                "start",
                str(path),
                env=_env(tmp_path, TEMPORAL_ADDRESS=address),
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            out, err = await asyncio.wait_for(process.communicate(), timeout=60)
            return process.returncode, out.decode(), err.decode()

    results = await asyncio.gather(*(start(path) for _, path in orders))
    outcomes = zip(orders, results, strict=True)
    failures = [(order_id, code, err[-300:]) for (order_id, _), (code, _, err) in outcomes if code != 0]
    assert failures == [], f"{len(failures)} of {RUNS} runs did not exit 0"
    assert [out for _, out, _ in results] == [f"started {workflow_id(order_id)}\n" for order_id, _ in orders]
