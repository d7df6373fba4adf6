"""Allow ``python -m osmcams``."""

from osmcams.cli import run

run()
