"""help() shows users what to pass and what comes back: every public name has a docstring, and
the main calls document their arguments, return value and errors."""

from __future__ import annotations

import inspect

import pytest

import lepton_ai
from lepton_ai import Dataset, Key, LeptonAI, Model
from lepton_ai._columns_file import read_columns


def test_every_public_name_has_a_docstring() -> None:
    missing = []
    for name in lepton_ai.__all__:
        obj = getattr(lepton_ai, name)
        if name == "__version__":
            continue
        if not inspect.getdoc(obj):
            missing.append(name)
        if inspect.isclass(obj) and not issubclass(obj, Exception):
            for attr, value in vars(obj).items():
                if attr.startswith("_") and attr != "__call__":
                    continue
                target = value.fget if isinstance(value, property) else getattr(value, "__func__", value)
                if callable(target) or isinstance(value, property):
                    if not inspect.getdoc(target):
                        missing.append(f"{name}.{attr}")
    assert missing == []


SECTIONED = [
    Model.__call__, Model.run, Model.run_dict, LeptonAI.load_model, LeptonAI.load_dataset,
    LeptonAI.push_model, LeptonAI.push_dataset, LeptonAI.model_bytes, LeptonAI.model_info,
    LeptonAI.verify_model, LeptonAI.dataset_info, LeptonAI.verify_dataset, LeptonAI.delete_model,
    LeptonAI.delete_dataset, read_columns, Dataset.__getitem__, Dataset.to_numpy, Dataset.shard,
    Dataset.iter_batches, Dataset.state_dict, Dataset.load_state_dict,
]
NATIVE_SECTIONED = [Key.from_bytes, Key.from_env, Key.from_text, Key.from_file, Key.parse]


@pytest.mark.parametrize("func", SECTIONED, ids=lambda f: f.__qualname__)
def test_main_calls_document_args_returns_and_raises(func: object) -> None:
    doc = inspect.getdoc(func) or ""
    params = [p for p in inspect.signature(func).parameters if p not in ("self",)]  # type: ignore[arg-type]
    if params:
        assert "Args:" in doc
        for p in params:
            assert f"{p}:" in doc or f"*{p}:" in doc, p
    assert "Raises:" in doc
    if func not in (LeptonAI.delete_model, LeptonAI.delete_dataset, Dataset.load_state_dict):
        assert "Returns:" in doc


@pytest.mark.parametrize("func", NATIVE_SECTIONED, ids=lambda f: f.__name__)
def test_key_constructors_document_args_returns_and_raises(func: object) -> None:
    # Native functions: the docstring comes from the Rust doc comment in lepton-py.
    doc = inspect.getdoc(func) or ""
    assert "Args:" in doc and "Returns:" in doc and "Raises:" in doc, doc


def test_help_of_model_call_is_not_the_generic_one() -> None:
    doc = inspect.getdoc(Model.__call__) or ""
    assert "Call self as a function" not in doc
    assert "numpy in, numpy out; torch in, torch out" in doc
