"""Run by the generated ``sh`` front-end as ``python3 -I -S _entry.py REAL ARGS...``.

This is on tmuxinator's critical path, once per tmux call that delivers secrets.  ``-I -S``
skip site-packages and the user's environment, and the package is registered by hand
instead of running ``paneseal/__init__.py``: the shim needs nothing from it.
"""

import sys

_src = __file__.rsplit("/", 3)[0]
_pkg = type(sys)("paneseal")
_pkg.__path__ = [_src + "/paneseal"]
sys.modules["paneseal"] = _pkg
sys.path[0] = _src

from paneseal.tmux.shim import delegated  # noqa: E402

delegated(sys.argv[1], sys.argv[2:])
