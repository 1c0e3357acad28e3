"""Padding the rows of a variable-shape column into one tensor for torch (what a model takes),
with each row's true size and a mask.

    it = ds.to_iterable_dataset(batch_size=32, shuffle=True)
    for batch in DataLoader(it, batch_size=None):
        tokens = collate_padded(batch["tokens"], padding_value=0)
        model(tokens.values, attention_mask=tokens.mask)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

__all__ = ["Padded", "collate_padded"]


class Padded(NamedTuple):
    """Rows padded to a common shape.

    Attributes:
        values: ``(rows, *max_shape)``, the rows' dtype, padded with ``padding_value``.
        lengths: ``(rows,)`` int64 lengths for 1-D rows; ``(rows, ndim)`` shapes otherwise.
        mask: ``(rows, *max_shape)`` bool, True where a value is a row's own.
    """

    values: Any
    lengths: Any
    mask: Any


def collate_padded(rows: Sequence[Any], padding_value: float = 0) -> Padded:
    """Pads rows of one dtype and rank (tensors or numpy arrays of different shapes, as a
    variable-shape column's batch holds them) into one torch tensor.

    Args:
        rows: the rows, each of shape ``(d0, d1, ...)`` with the same number of dimensions.
        padding_value: what fills the padding.

    Returns:
        ``Padded(values, lengths, mask)`` as torch tensors: ``values`` of shape
        ``(len(rows), *max_shape)``; ``lengths`` the rows' sizes (``(rows,)`` for 1-D rows,
        ``(rows, ndim)`` otherwise); ``mask`` True on each row's own values.

    Raises:
        MissingExtraError: torch is not installed.
        SchemaError: no rows, or rows of different ranks or dtypes.
    """
    from ._dataset import _require
    from .errors import SchemaError

    _require("torch", "collate_padded()")
    import torch

    tensors = [r if isinstance(r, torch.Tensor) else torch.from_numpy(np.asarray(r)) for r in rows]
    if not tensors:
        raise SchemaError("schema error: collate_padded() needs at least one row")
    if len({t.dim() for t in tensors}) > 1 or len({t.dtype for t in tensors}) > 1:
        raise SchemaError("schema error: collate_padded() pads rows of one dtype and rank")
    shapes = torch.tensor([list(t.shape) for t in tensors], dtype=torch.int64).reshape(len(tensors), -1)
    big = [len(tensors), *shapes.max(dim=0).values.tolist()]
    values = torch.full(big, padding_value, dtype=tensors[0].dtype)
    mask = torch.zeros(big, dtype=torch.bool)
    for i, t in enumerate(tensors):
        where: tuple[int | slice, ...] = (i, *(slice(0, d) for d in t.shape))
        values[where] = t
        mask[where] = True
    lengths = shapes[:, 0] if tensors[0].dim() == 1 else shapes
    return Padded(values, lengths, mask)
