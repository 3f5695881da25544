"""The ``paneseal`` executable.

For ``paneseal start``, tmuxinator's interpreter starts loading (paneseal.preload) before
anything else is imported, click included: that load is the longest part of a start, and
it now runs alongside everything paneseal does before the secrets are in hand.
"""

from __future__ import annotations

import sys


def main() -> None:
    preloading = sys.argv[1:2] == ["start"]
    if preloading:
        from paneseal import preload

        preload.begin(sys.argv[2:])
    try:
        from paneseal.cli.main import main as run_command_line

        run_command_line()
    finally:
        if preloading:
            preload.discard()  # not taken by `start` (e.g. --help, a usage error)
