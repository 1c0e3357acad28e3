"""Runs a command the way the example tests need: output captured, bounded in time, and on a
timeout the whole process group killed (torchrun's ranks, Ray's workers), not only the parent."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Mapping, Sequence


def run_bounded(command: Sequence[str], env: Mapping[str, str], timeout: float = 300) -> tuple[int, str]:
    """Runs ``command`` in its own session; returns (exit code, stdout and stderr together).

    Raises AssertionError (with the output so far) when it runs past ``timeout`` seconds."""
    with subprocess.Popen(
        list(command),
        env=dict(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    ) as run:
        try:
            out, _ = run.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(run.pid, signal.SIGKILL)
            out, _ = run.communicate()
            raise AssertionError(f"{command[0]} did not finish in {timeout} s:\n{out}") from None
    return run.returncode, out
