"""Starting worker processes without running the command's main script again in them.

``spawn`` and ``forkserver`` run the parent's ``__main__`` file in each new
process, so that functions pickled from it can be found there. Sekimori's
workers run only importable functions, and the script costs every start the
command line's imports (``sekimori`` is a script that imports Typer and the
CLI), or, in a script without an ``if __name__ == "__main__":`` guard, runs
the whole command a second time.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def main_script_hidden() -> Iterator[None]:
    """Processes started inside do not run the main script (``__main__.__file__``)."""
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    if main is None or path is None:
        yield
        return
    del main.__file__
    try:
        yield
    finally:
        main.__file__ = path


__all__ = ["main_script_hidden"]
