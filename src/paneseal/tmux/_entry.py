"""Run by the generated ``sh`` front-end as ``python3 -I -S _entry.py REAL ARGS...``.

``-I -S`` skips site-packages and the user's environment, which saves most of Python's
start-up time on each of the few tmux calls that deliver secrets; the package is found
from this file's own location instead.
"""

import sys
from pathlib import Path

sys.path[0] = str(Path(__file__).resolve().parents[2])

from paneseal.tmux.shim import delegated  # noqa: E402

delegated(sys.argv[1], sys.argv[2:])
