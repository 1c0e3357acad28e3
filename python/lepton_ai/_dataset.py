"""Datasets: placeholder until the datasets issue lands."""

from __future__ import annotations


class Key:
    """A 32-byte dataset/model key."""


class Dataset:
    """An encrypted, chunked dataset."""


def write_dataset(*args: object, **kwargs: object) -> Dataset:
    raise NotImplementedError("datasets are not implemented yet")
