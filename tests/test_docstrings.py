"""help() shows users what to pass and what comes back: every public name has a docstring, and
the main calls document their arguments, return value and errors."""

from __future__ import annotations

import dataclasses
import inspect
import re
import types

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


#: Functions that take arguments but cannot raise (they only store what they are given, or, as
#: ``dict.get``, answer every argument).
CANNOT_RAISE = {"Dataset.set_epoch", "TuneReport.__init__", "DatasetWriter.__init__", "DatasetVersionInfo.get"}


def _documented(obj: object) -> list[tuple[str, object, str]]:
    """(qualified name, function, the docstring its sections are checked in) of every public
    function and method of ``lepton_ai.__all__``: methods, ``__init__``, ``__call__`` and
    ``__getitem__``; ``__init__``'s arguments may be in the class docstring (Google style); a
    dataclass's generated ``__init__`` is documented by the class's ``Attributes:``."""
    out = []
    for name in lepton_ai.__all__:
        obj = getattr(lepton_ai, name)
        if name == "__version__" or (inspect.isclass(obj) and issubclass(obj, Exception)):
            continue
        if not inspect.isclass(obj):
            out.append((name, obj, inspect.getdoc(obj) or ""))
            continue
        for attr, value in vars(obj).items():
            if attr.startswith("_") and attr not in ("__init__", "__call__", "__getitem__"):
                continue
            target = getattr(value, "__func__", value)
            if isinstance(value, property) or not callable(target):
                continue
            if isinstance(target, types.WrapperDescriptorType):
                continue  # a native class's slot (`__getitem__`): CPython fixes its docstring

            doc = inspect.getdoc(target) or ""
            if attr == "__init__":
                if dataclasses.is_dataclass(obj):
                    continue
                doc = (obj.__doc__ or "") + "\n" + doc
            out.append((f"{name}.{attr}", target, doc))
    return out


def _missing_sections(qualname: str, func: object, doc: str) -> list[str]:
    try:
        sig = inspect.signature(func)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return []  # a native function pyo3 gives no signature: covered by the Key tests
    params = [p.lstrip("*") for p in sig.parameters if p not in ("self", "cls")]
    missing = []
    if params:
        if "Args:" not in doc:
            missing.append("Args")
        for p in params:
            # `name:`, `*name:`, `**name:`, or one line for two (`a / b:`, `a, b:`)
            if not re.search(rf"^\s*\**{p}\s*[:/,]|[/,] \**{p}:", doc, re.MULTILINE):
                missing.append(f"Args entry `{p}`")
        if "Raises:" not in doc and qualname not in CANNOT_RAISE:
            missing.append("Raises")
    returns = sig.return_annotation
    if (
        returns not in (None, "None", inspect.Signature.empty)
        and not qualname.endswith("__init__")
        and "Returns:" not in doc
    ):
        missing.append("Returns")
    return [f"{qualname}: {m}" for m in missing]


def test_every_public_function_documents_args_returns_and_raises() -> None:
    """The checkable rule, for every public function and method (see :func:`_documented`):
    ``Args:`` naming each parameter when it has any; ``Raises:`` when it has parameters (an
    argument can always be wrong) unless it only stores them (``CANNOT_RAISE``); ``Returns:``
    when its annotated return type is not None. Properties need a one-line description
    (``test_every_public_name_has_a_docstring``); dataclass-like value classes an
    ``Attributes:`` section (below)."""
    missing = [m for q, f, doc in _documented(lepton_ai) for m in _missing_sections(q, f, doc)]
    assert missing == []


def test_value_classes_list_their_attributes() -> None:
    from lepton_ai._tune import Profile, TuneReport

    for cls in (Profile, TuneReport):
        assert "Attributes:" in (inspect.getdoc(cls) or ""), cls.__name__
