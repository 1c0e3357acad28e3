"""Progress bars for long transfers: tqdm when attached to a terminal or notebook, silent otherwise.

``progress=`` everywhere accepts ``None`` (automatic: a bar for transfers of 1 MiB or more when
stderr is a terminal or the code runs in a notebook), ``True`` (always a bar), ``False`` (never),
or a callable ``(done_bytes, total_bytes) -> None`` of your own (raise from it to cancel).
"""

from __future__ import annotations

import contextlib
import sys
from typing import Any, Callable, Iterator, Optional, Union

ProgressCallback = Callable[[int, int], None]
Progress = Union[bool, None, ProgressCallback]

#: Transfers smaller than this get no automatic bar (they finish before a bar is readable).
AUTO_MIN_BYTES = 1 << 20


def _in_notebook() -> bool:
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return False
    try:
        shell = ipython.get_ipython()
    except Exception:
        return False
    return shell is not None and "IPKernelApp" in getattr(shell, "config", {})


def auto_enabled() -> bool:
    """Whether automatic progress bars are on here (a terminal on stderr, or a notebook)."""
    try:
        tty = sys.stderr.isatty()
    except (AttributeError, ValueError):
        tty = False
    return tty or _in_notebook()


@contextlib.contextmanager
def progress_callback(progress: Progress, desc: str) -> Iterator[Optional[ProgressCallback]]:
    """Yields the callback to hand to the native layer for one transfer (or None), and closes
    the bar afterwards."""
    if callable(progress):
        yield progress
        return
    if progress is False or (progress is None and not auto_enabled()):
        yield None
        return
    always = progress is True
    state: dict[str, Any] = {"bar": None}

    def update(done: int, total: int) -> None:
        bar = state["bar"]
        if bar is None:
            if not always and total < AUTO_MIN_BYTES:
                return
            from tqdm.auto import tqdm  # type: ignore[import-untyped]

            bar = state["bar"] = tqdm(
                total=total, desc=desc, unit="B", unit_scale=True, unit_divisor=1024, leave=False
            )
        bar.update(done - bar.n)

    try:
        yield update
    finally:
        if state["bar"] is not None:
            state["bar"].close()
