"""``python -m o2c.cli``: the ``o2c`` command (worker processes start their children this way)."""

from o2c.cli import main

main()
