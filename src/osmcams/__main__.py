"""Allow ``python -m osmcams``."""

import signal

# A Ctrl-C while the CLI loads ends the process at once, by the signal (as SIGTERM does),
# without a traceback; `run` then installs the handler of a run.
signal.signal(signal.SIGINT, signal.SIG_DFL)

from osmcams.cli import run  # noqa: E402

if __name__ == "__main__":  # not when a spawned worker imports it as __mp_main__
    run()
