"""Keeps the dev stack's children running, as a process supervisor would, in its state folder.

A child that dies is started again after a pause that doubles with each death in quick succession (1 s,
2 s, 4 s … 30 s), so a child that cannot start does not spin; once a child has stayed up a while, its next
death starts again from the first pause. Each death is one line on the console. The state folder also keeps
the secrets the stack makes for itself (``state_secret``).
"""

import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO


def state_secret(path: Path, make: Callable[[], str]) -> str:
    """A development secret kept in the state folder (readable by its owner only), made once."""
    if not path.exists():
        path.touch(mode=0o600)
        path.write_text(make())
    return path.read_text().strip()


@dataclass(frozen=True)
class RestartPolicy:
    first_delay: float = 1.0
    max_delay: float = 30.0
    stable_after: float = 60.0  # up this long, a child's next death counts as the first

    def next_delay(self, previous: float | None, uptime: float) -> float:
        if previous is None or uptime >= self.stable_after:
            return self.first_delay
        return min(previous * 2, self.max_delay)


@dataclass
class Child:
    name: str
    argv: list[str]
    process: subprocess.Popen[bytes]
    started_at: float
    delay: float | None = None  # the pause before the latest restart
    restart_at: float | None = None  # set while the child is dead and waits for its restart
    restarts: int = 0


def exit_description(returncode: int) -> str:
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exited with code {returncode}"


class Supervisor:
    """Children started with their output appended to ``{logs}/{name}.log``, each in its own session (so a
    Ctrl-C in the terminal reaches only ``o2c dev``, which then stops them in order)."""

    def __init__(
        self,
        logs: Path,
        env: Callable[[], dict[str, str]],
        policy: RestartPolicy | None = None,
        console: TextIO | None = None,
    ) -> None:
        self.logs = logs
        self.env = env
        self.policy = policy or RestartPolicy()
        self.console = console or sys.stderr
        self.children: list[Child] = []

    def _popen(self, name: str, argv: list[str]) -> subprocess.Popen[bytes]:
        with (self.logs / f"{name}.log").open("ab") as logfile:
            return subprocess.Popen(
                argv, stdout=logfile, stderr=subprocess.STDOUT, env=self.env(), start_new_session=True
            )

    def spawn(self, name: str, argv: list[str]) -> Child:
        child = Child(name, argv, self._popen(name, argv), time.monotonic())
        self.children.append(child)
        return child

    def tend(self, now: float | None = None) -> list[Child]:
        """Notices children that died (one console line each) and restarts those whose pause is over.
        Returns the children restarted by this call."""
        now = time.monotonic() if now is None else now
        restarted = []
        for child in self.children:
            returncode = child.process.poll()
            if returncode is None:
                continue
            if child.restart_at is None:
                child.delay = self.policy.next_delay(child.delay, now - child.started_at)
                child.restart_at = now + child.delay
                print(
                    f"o2c dev: {child.name} (pid {child.process.pid}) {exit_description(returncode)}; "
                    f"restarting in {child.delay:g} s (log: {self.logs / child.name}.log)",
                    file=self.console,
                    flush=True,
                )
            elif now >= child.restart_at:
                child.process = self._popen(child.name, child.argv)
                child.started_at, child.restart_at = now, None
                child.restarts += 1
                restarted.append(child)
        return restarted

    def stop(self, grace: float = 15.0) -> None:
        """SIGTERM to every child, newest first; those still running after ``grace`` seconds are killed."""
        for child in reversed(self.children):
            if child.process.poll() is None:
                child.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace
        for child in reversed(self.children):
            try:
                child.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.process.kill()
                child.process.wait()
        self.children.clear()
