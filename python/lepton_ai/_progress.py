"""Progress bars for long transfers: tqdm when attached to a terminal or notebook, silent otherwise.

``progress=`` everywhere accepts ``None`` (automatic: a bar for transfers of 1 MiB or more when
stderr is a terminal or the code runs in a notebook), ``True`` (always a bar), ``False`` (never),
or a callable ``(done_bytes, total_bytes) -> None`` of your own (raise from it to cancel;
``total_bytes`` is 0 while a stream of batches is written, whose size is not known ahead).

The environment variable ``LEPTON_PROGRESS`` overrides ``None`` and ``True`` for the whole
process: ``0`` turns every bar off (CI logs, batch jobs), ``1`` shows bars even without a
terminal. A callable is always called. Bars are named by the model or dataset
(``push medical/train``, ``pull medical_diagnosis``). In Jupyter the bar is a widget when
``ipywidgets`` is installed and plain text otherwise (no "IProgress not found" warning).
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import sys
from typing import Any, Callable, ContextManager, Iterator, Optional, Union

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


def _env_setting() -> Optional[bool]:
    """``LEPTON_PROGRESS``: False for ``0``/``false``/``off``/``no``, True for ``1``/``true``/
    ``on``/``yes``, None when unset or empty."""
    value = os.environ.get("LEPTON_PROGRESS", "").strip().lower()
    if value in ("0", "false", "off", "no"):
        return False
    if value in ("1", "true", "on", "yes"):
        return True
    return None


def auto_enabled() -> bool:
    """Whether automatic progress bars are on here: ``LEPTON_PROGRESS`` if set, else a terminal
    on stderr or a notebook."""
    env = _env_setting()
    if env is not None:
        return env
    try:
        tty = sys.stderr.isatty()
    except (AttributeError, ValueError):
        tty = False
    return tty or _in_notebook()


def _tqdm_class() -> Any:
    """tqdm's notebook widget in Jupyter when ipywidgets is installed (tqdm.auto would warn
    "IProgress not found" without it), else the text bar."""
    if _in_notebook() and importlib.util.find_spec("ipywidgets") is not None:
        from tqdm.notebook import tqdm as notebook_tqdm  # type: ignore[import-untyped]

        return notebook_tqdm
    from tqdm.std import tqdm as text_tqdm  # type: ignore[import-untyped]

    return text_tqdm


def progress_callback(
    progress: Progress, desc: str
) -> ContextManager[Optional[ProgressCallback]]:
    """Yields the callback to hand to the native layer for one transfer (or None), and closes
    the bar afterwards. Without a bar this is a plain ``nullcontext`` (a small model's load is
    well under a millisecond: no generator on that path)."""
    if callable(progress):
        return contextlib.nullcontext(progress)
    if progress is False or _env_setting() is False or (progress is None and not auto_enabled()):
        return contextlib.nullcontext(None)
    return _bar(progress is True, desc)


@contextlib.contextmanager
def _bar(always: bool, desc: str) -> Iterator[ProgressCallback]:
    """The callback drawing a tqdm bar named ``desc`` (from the first report when ``always``,
    else once the transfer reaches ``AUTO_MIN_BYTES``), closed on exit."""
    state: dict[str, Any] = {"bar": None}

    def update(done: int, total: int) -> None:
        bar = state["bar"]
        if bar is None:
            # A total of 0 means not known ahead (a stream of batches): the bar counts up.
            if not always and max(total, done) < AUTO_MIN_BYTES:
                return
            bar = state["bar"] = _tqdm_class()(
                total=total or None, desc=desc, unit="B", unit_scale=True, unit_divisor=1024, leave=False
            )
        bar.update(done - bar.n)

    try:
        yield update
    finally:
        if state["bar"] is not None:
            state["bar"].close()
