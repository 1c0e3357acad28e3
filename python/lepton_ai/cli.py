"""The ``lepton`` command: list, push, pull, inspect, verify and remove registry items.

    lepton --registry s3://bucket/prefix ls models
    lepton push model medical_diagnosis model.onnx --metadata '{"auc": 0.97}'
    lepton pull model medical_diagnosis --output medical.model
    lepton verify model medical_diagnosis
    lepton rm model medical_diagnosis --version 2
    lepton push dataset medical train.npz --split train     # or .npy, .parquet, .csv
    lepton ls datasets medical
    lepton ls models --registry s3://bucket/prefix           # global options go anywhere

The registry comes from ``--registry``, else ``$LEPTON_URI``, else the local default. The key
(for encrypted items) comes from ``--key-file`` (32 raw bytes, or 64 hex digits / 44 base64
characters), else ``$LEPTON_KEY`` (64 hex digits or 44 base64 characters), else the key file
``$LEPTON_HOME/key`` (created, mode 0600, by the first push to the local default registry); it is
never taken on the command line, where other users could see it. Pushes are encrypted by default:
``--no-encrypt`` stores in clear.
Exit status: 0 on success, 1 on an error (a message on stderr), 2 on a usage error.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from typing import Any, Optional, Sequence

from . import _lepton
from ._model_file import save_model_file
from ._platform import LeptonAI
from .errors import InvalidArgumentError, KeyRequiredError, LeptonError, NotFoundError

KINDS = {"model": "model", "models": "model", "dataset": "dataset", "datasets": "dataset"}


def _kind(text: str) -> str:
    try:
        return KINDS[text]
    except KeyError:
        raise argparse.ArgumentTypeError(f"expected model or dataset, got {text!r}") from None


def _read_key(args: argparse.Namespace) -> Optional[bytes]:
    """The key bytes from ``--key-file``, else ``$LEPTON_KEY``, else the key file
    ``$LEPTON_HOME/key``, else None (``lepton-core`` finds and parses them)."""
    given = _given_key(args)
    return given if given is not None else _lepton.ambient_key()


def _given_key(args: argparse.Namespace) -> Optional[bytes]:
    """The key bytes from ``--key-file``, else None: the registry then finds its own key as the
    library does (``$LEPTON_KEY``, then the key file)."""
    return _lepton.Key.from_file(args.key_file).to_bytes() if args.key_file else None


def _key_may_wait(args: argparse.Namespace) -> bool:
    """Whether a ``--key-file`` that holds no valid key may fail only what needs the key (as a bad
    ``$LEPTON_KEY`` does): every command but an encrypting push and ``tune``, which write."""
    return args.command not in ("push", "tune") or (args.command == "push" and args.no_encrypt)


#: Commands that only read: on a local registry folder that does not exist they fail instead of
#: creating an empty registry (a mistyped path would otherwise look like an empty registry).
READ_COMMANDS = {"ls", "pull", "info", "verify", "rm"}


def _local_path(uri: str) -> Optional[str]:
    if uri.startswith("file://"):
        return uri[len("file://") :]
    return None if "://" in uri else uri


def _key_file_error(args: argparse.Namespace, e: LeptonError) -> LeptonError:
    """For an operation that needed the key of a ``--key-file`` holding none, that file's error
    (naming it); ``e`` otherwise."""
    deferred: Optional[LeptonError] = getattr(args, "key_file_error", None)
    return deferred if deferred is not None and isinstance(e, KeyRequiredError) else e


def _platform(args: argparse.Namespace) -> LeptonAI:
    uri = args.registry or os.environ.get("LEPTON_URI") or None
    if uri is not None and args.command in READ_COMMANDS:
        local = _local_path(uri)
        if local is not None and not os.path.isdir(local):
            where = "--registry" if args.registry else "$LEPTON_URI"
            raise NotFoundError(
                f"registry folder {local} does not exist (from {where}); check the path, "
                "or push a model or dataset there first"
            )
    bad = [kv for kv in args.option if "=" not in kv]
    if bad:
        raise InvalidArgumentError(f"--option takes KEY=VALUE, got {bad[0]!r}")
    options = dict(kv.split("=", 1) for kv in args.option) if args.option else None
    try:
        key, encrypt = _given_key(args), None
    except LeptonError as e:
        if not _key_may_wait(args):
            raise
        # Opened without a key and without falling back to $LEPTON_KEY or the home key file
        # (the user named this file): what needs the key fails with this error (see main).
        args.key_file_error, key, encrypt = e, None, False
    return LeptonAI(
        uri,
        key=key,
        cache_dir=args.cache_dir,
        storage_options=options,
        progress=False if args.no_progress else None,
        encrypt=encrypt,
    )


def _print_json(obj: Any) -> None:
    print(json.dumps(obj, indent=2, sort_keys=True))


def _info_dict(info: Any) -> dict[str, Any]:
    """A frozen native entry (``ModelInfo``, ``DatasetInfo``) as a dict of its fields."""
    d = {name: getattr(info, name) for name in dir(info) if not name.startswith("_")}
    if "columns" in d:
        d["columns"] = [{"name": c.name, "dtype": c.dtype, "shape": list(c.shape)} for c in d["columns"]]
    return {k: v for k, v in d.items() if not callable(v)}


def _split(args: argparse.Namespace) -> str:
    return args.split if args.split is not None else "train"


def cmd_ls(args: argparse.Namespace) -> int:
    p = _platform(args)
    if args.kind == "dataset":
        if args.name:
            _require(args.name, p.list_datasets(), "dataset", p.uri)
        if args.name and args.split:
            _require(args.split, p.dataset_splits(args.name), f"split of dataset `{args.name}`", p.uri)
            rows = [str(v) for v in p.dataset_versions(args.name, args.split)]
        elif args.name:
            rows = p.dataset_splits(args.name)
        else:
            rows = p.list_datasets()
        for row in rows:
            print(row)
        return 0
    if args.split:
        raise InvalidArgumentError("--split applies to datasets only")
    if args.name:
        _require(args.name, p.list_models(), "model", p.uri)
        for v in p.model_versions(args.name):
            print(v)
    else:
        for name in p.list_models():
            print(name)
    return 0


def _require(name: str, existing: list[str], what: str, uri: str) -> None:
    """Raises NotFoundError naming the ones that exist when ``name`` is not among them."""
    if name not in existing:
        there = ", ".join(existing) if existing else "none"
        raise NotFoundError(f"{what} `{name}` not found in {uri} (there: {there})")


def cmd_push(args: argparse.Namespace) -> int:
    p = _platform(args)
    try:
        metadata = json.loads(args.metadata) if args.metadata else None
    except ValueError as e:
        raise InvalidArgumentError(f"--metadata is not valid JSON: {e}") from None
    if metadata is not None and not isinstance(metadata, dict):
        raise InvalidArgumentError("--metadata must be a JSON object")
    encrypt = False if args.no_encrypt else None
    if args.kind == "dataset":
        from ._columns_file import read_columns, read_schema

        columns = read_columns(args.path, column=args.column)
        split = _split(args)
        exists = args.name in p.list_datasets() and split in p.dataset_splits(args.name)
        before = p.dataset_versions(args.name, split) if exists else []
        dinfo = p.push_dataset(
            args.name, split, columns, metadata=metadata, encrypt=encrypt, schema=read_schema(args.path, columns)
        )
        if dinfo.version in before:  # the core returns the latest version when it holds these rows
            print(f"{args.name}/{split} version {dinfo.version} already holds these rows; nothing pushed")
            return 0
        print(
            f"pushed {args.name}/{split} version {dinfo.version} ({dinfo.rows} rows)"
            f"{' (encrypted)' if dinfo.encrypted else ''}"
        )
        return 0
    if args.column:
        raise InvalidArgumentError("--column applies to datasets only")
    before = p.model_versions(args.name) if args.name in p.list_models() else []
    info = p.push_model(args.name, args.path, metadata=metadata, encrypt=encrypt)
    if info.version in before:  # the core returns the latest version when it holds these bytes
        print(f"{args.name} version {info.version} already holds this model; nothing pushed")
        return 0
    print(f"pushed {info.name} version {info.version}{' (encrypted)' if info.encrypted else ''}")
    return 0


def cmd_pull(args: argparse.Namespace) -> int:
    p = _platform(args)
    if args.kind == "dataset":
        from ._columns_file import write_npz, write_parquet

        split = _split(args)
        out = args.output or f"{args.name}-{split}.npz"
        suffix = os.path.splitext(out)[1].lower()
        if suffix not in PULL_SUFFIXES:
            raise InvalidArgumentError(
                f"cannot pull a dataset to {out}: the file name must end in "
                f"{' or '.join(PULL_SUFFIXES)} (.parquet needs pyarrow)"
            )
        ds = p.load_dataset(args.name, split, args.version)
        if suffix == ".npz":
            write_npz(out, ds.to_numpy(progress=False if args.no_progress else None), ds.schema)
        else:
            write_parquet(out, ds.to_arrow())
        print(f"wrote {args.name}/{split} version {ds.version} ({len(ds)} rows) to {out}")
        return 0
    info = p.model_info(args.name, args.version)
    onnx = p.model_bytes(args.name, info.version)
    out = args.output or f"{args.name}.{'model' if info.encrypted and not args.decrypt else 'onnx'}"
    # An encrypted model stays encrypted on disk (same key) unless --decrypt is given.
    key = _read_key(args) if info.encrypted and not args.decrypt else None
    save_model_file(out, onnx, key=key)
    print(f"wrote {args.name} version {info.version} to {out}{' (encrypted)' if key else ''}")
    return 0


#: What ``lepton pull dataset --output`` writes: a ``.npz`` that records order, dtypes and shapes
#: (``_columns_file.write_npz``), or Parquet (``Dataset.to_arrow``).
PULL_SUFFIXES = (".npz", ".parquet")


def cmd_info(args: argparse.Namespace) -> int:
    p = _platform(args)
    if args.kind == "model":
        info = _info_dict(p.model_info(args.name, args.version))
        versions = p.model_versions(args.name)
    else:
        split = _split(args)
        info = _info_dict(p.dataset_info(args.name, split, args.version))
        versions = p.dataset_versions(args.name, split)
    _print_json({**info, "versions": versions})
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    p = _platform(args)
    if args.kind == "dataset":
        return _verify_datasets(p, args)
    if args.name:
        _require(args.name, p.list_models(), "model", p.uri)
    names = [args.name] if args.name else p.list_models()
    failed = 0
    for name in names:
        versions = [args.version] if args.version else p.model_versions(name)
        for v in versions:
            try:
                info = p.verify_model(name, v)
                print(f"ok      {name} v{v} ({info.stored_bytes} bytes, sha256 {info.sha256[:12]})")
            except LeptonError as e:
                failed += 1
                print(f"FAILED  {name} v{v}: {_key_file_error(args, e)}")
    return 1 if failed else 0


def _verify_datasets(p: LeptonAI, args: argparse.Namespace) -> int:
    if args.name:
        _require(args.name, p.list_datasets(), "dataset", p.uri)
        if args.split:
            _require(args.split, p.dataset_splits(args.name), f"split of dataset `{args.name}`", p.uri)
    failed = 0
    for name in [args.name] if args.name else p.list_datasets():
        for split in [args.split] if args.split else p.dataset_splits(name):
            versions = [args.version] if args.version else p.dataset_versions(name, split)
            for v in versions:
                try:
                    info = p.verify_dataset(name, split, v)
                    print(f"ok      {name}/{split} v{v} ({info.chunks} chunks, {info.rows} rows)")
                except LeptonError as e:
                    failed += 1
                    print(f"FAILED  {name}/{split} v{v}: {_key_file_error(args, e)}")
    return 1 if failed else 0


def _rm_targets(p: LeptonAI, args: argparse.Namespace) -> list[str]:
    """What ``rm`` would remove, one ``name[/split] vN`` per version."""
    if args.kind == "dataset":
        splits = [args.split] if args.split else p.dataset_splits(args.name)
        out = []
        for split in splits:
            versions = [args.version] if args.version else p.dataset_versions(args.name, split)
            out += [f"{args.name}/{split} v{v}" for v in versions]
        return out
    versions = [args.version] if args.version else p.model_versions(args.name)
    return [f"{args.name} v{v}" for v in versions]


def _confirm_rm(targets: list[str], args: argparse.Namespace) -> bool:
    """Asks on a terminal; refuses without one unless ``--yes``."""
    if args.yes:
        return True
    if not sys.stdin.isatty():
        raise InvalidArgumentError(
            f"rm would remove {len(targets)} version(s) and stdin is not a terminal to ask; "
            "pass --yes to remove without asking, or --dry-run to list them"
        )
    print("this removes:\n  " + "\n  ".join(targets), file=sys.stderr)
    try:
        answer = input(f"remove {len(targets)} version(s)? [y/N] ")
    except EOFError:  # Ctrl-D: the same as answering no
        print(file=sys.stderr)
        return False
    return answer.strip().lower() in ("y", "yes")


def cmd_rm(args: argparse.Namespace) -> int:
    p = _platform(args)
    if args.kind == "dataset" and args.version is not None and args.split is None:
        raise InvalidArgumentError("--version needs --split")
    targets = _rm_targets(p, args)
    if args.dry_run:
        for t in targets:
            print(f"would remove {t}")
        return 0
    if not _confirm_rm(targets, args):
        print("nothing removed", file=sys.stderr)
        return 1
    if args.kind == "dataset":
        p.delete_dataset(args.name, args.split, args.version)
        what = args.name + (f"/{args.split}" if args.split else "")
        what += f" version {args.version}" if args.version else " (all versions)"
        print(f"removed {what}")
        return 0
    p.delete_model(args.name, args.version)
    what = f"{args.name} version {args.version}" if args.version else f"{args.name} (all versions)"
    print(f"removed {what}")
    return 0


def cmd_tune(args: argparse.Namespace) -> int:
    """Tunes a registry model on this machine and stores the pick (``autotune_model``)."""
    dataset, sep, split = args.validation.partition(":")
    if not sep or not dataset or not split:
        raise InvalidArgumentError(
            f"--validation takes DATASET:SPLIT (e.g. medical:test), got {args.validation!r}"
        )
    p = _platform(args)
    report = p.autotune_model(
        args.name,
        (dataset, split),
        version=args.version,
        objective=args.objective,
        labels=args.labels,
        max_accuracy_drop=args.max_accuracy_drop,
        budget_s=args.budget,
        push=not args.dry_run,
    )
    b = report.best
    _print_json(
        {
            "model": args.name,
            "version": report.version,
            "objective": report.objective,
            "best": {
                "variant": b.variant,
                **b.load_kwargs(),
                "batch_size": b.batch_size,
                "p50_ms": b.p50_ms,
                "rows_per_s": b.rows_per_s,
            },
            "beats_default": report.beats_baseline,
            "speedup": report.speedup,
            "noise": report.noise,
            "transforms": {c.transform: c.reason for c in report.checks},
            "trials": len(report.trials),
            "elapsed_s": report.elapsed_s,
            "stored": not args.dry_run,
        }
    )
    return 0


def _global_options(parser: argparse.ArgumentParser, suppress: bool) -> None:
    """The options every command takes, before or after the command name (as ``aws`` does).
    After the command they are added with SUPPRESS defaults, so an option given before the
    command is not reset by the subcommand's parser."""

    def d(value: Any) -> Any:
        return argparse.SUPPRESS if suppress else value

    parser.add_argument(
        "--registry", "-r", default=d(None), help="registry URI or path (s3://bucket/prefix, ...)"
    )
    parser.add_argument(
        "--key-file", default=d(None),
        help="file holding the key (32 raw bytes, 64 hex digits or 44 base64 characters)",
    )
    parser.add_argument("--cache-dir", default=d(None), help="local cache folder")
    parser.add_argument(
        "--option", "-o", action="append", metavar="KEY=VALUE", default=d([]),
        help="storage option, repeatable (e.g. aws_endpoint=http://localhost:9000)",
    )
    parser.add_argument(
        "--no-progress", action="store_true", default=d(False),
        help="no progress bars (also: LEPTON_PROGRESS=0)",
    )
    parser.add_argument(
        "--verbose", "-v", action="store_true", default=d(False), help="log what happens"
    )


def _version() -> str:
    return f"lepton {_lepton.__version__} (lepton-ai-sdk)"


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``lepton``."""
    parser = argparse.ArgumentParser(
        prog="lepton",
        description="Manage a lepton-ai registry of models and datasets.",
        epilog="The registry is --registry, else $LEPTON_URI, else ~/.lepton/registry. "
        "The key is --key-file, else $LEPTON_KEY (64 hex digits or 44 base64 characters). "
        "Options above also go after the command: lepton ls models -r s3://bucket/prefix.",
    )
    parser.add_argument("--version", action="version", version=_version())
    _global_options(parser, suppress=False)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, help: str, func: Any) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help)
        p.set_defaults(func=func)
        p.add_argument("kind", type=_kind, metavar="{model,dataset}", help="what to act on")
        _global_options(p, suppress=True)
        return p

    split_help = "dataset split (default: train; for ls/verify/rm: all)"
    p = add("ls", "list items, a dataset's splits, or versions", cmd_ls)
    p.add_argument("name", nargs="?", help="list this model's versions / this dataset's splits")
    p.add_argument("--split", help="with a dataset name: list this split's versions")

    p = add("push", "push a model file or a dataset file as the next version", cmd_push)
    p.add_argument("name")
    p.add_argument(
        "path",
        help="model: .onnx (or encrypted .model); dataset: .npz (one array per column), .npy "
        "(one column, or a structured array's fields), .parquet or .csv (with a header row)",
    )
    p.add_argument("--split", help=split_help)
    p.add_argument("--column", help="dataset from a plain .npy: the column's name (default: x)")
    p.add_argument("--metadata", help="JSON object stored with the version")
    p.add_argument(
        "--no-encrypt", action="store_true",
        help="store in clear (the explicit choice; pushes are encrypted by default)",
    )

    p = add("pull", "download a version to a file (datasets: .npz or .parquet)", cmd_pull)
    p.add_argument("name")
    p.add_argument("--split", help=split_help)
    p.add_argument("--version", type=int)
    p.add_argument(
        "--output",
        help="file to write (default NAME.onnx or NAME.model; datasets NAME-SPLIT.npz, or a .parquet name)",
    )
    p.add_argument(
        "--decrypt", action="store_true",
        help="write an encrypted model as clear ONNX (default: keep it encrypted with the key)",
    )

    p = add("info", "show a version's manifest as JSON", cmd_info)
    p.add_argument("name")
    p.add_argument("--split", help=split_help)
    p.add_argument("--version", type=int)

    p = add("verify", "re-read and authenticate every stored object", cmd_verify)
    p.add_argument("name", nargs="?", help="only this item (default: all)")
    p.add_argument("--split", help=split_help)
    p.add_argument("--version", type=int)

    p = add("rm", "remove a version, or every version", cmd_rm)
    p.add_argument("name")
    p.add_argument("--split", help="dataset split to remove (default: the whole dataset)")
    p.add_argument("--version", type=int, help="only this version (default: all)")
    p.add_argument("--yes", "-y", action="store_true", help="remove without asking")
    p.add_argument("--dry-run", action="store_true", help="list what would be removed, remove nothing")

    p = sub.add_parser(
        "tune", help="find the fastest safe settings for a model on this machine and store them",
        description="Tunes runtime settings (and int8 transforms under an accuracy gate) on "
        "this machine and stores the pick as a profile that load_model applies here.",
    )
    p.set_defaults(func=cmd_tune)
    p.add_argument("name", help="the model")
    p.add_argument("--validation", required=True, metavar="DATASET:SPLIT",
                   help="validation rows from the registry, e.g. medical:test")
    p.add_argument("--version", type=int, help="model version (default: latest)")
    p.add_argument("--objective", choices=["latency", "throughput"], default="latency")
    p.add_argument("--labels", help="labels column (default: labels/label/y if present)")
    p.add_argument("--max-accuracy-drop", type=float, default=0.005,
                   help="accuracy a transform may lose (default 0.005 = 0.5 points)")
    p.add_argument("--budget", type=float, default=60.0, help="seconds (default 60)")
    p.add_argument("--dry-run", action="store_true", help="measure and print, store nothing")
    return parser


#: The Python spelling of how a push gets a key (``lepton-py/src/errors.rs``), and the CLI's.
_PUSH_KEY_PYTHON = (
    "LeptonAI(uri, key=lepton_ai.Key.generate()) and keep the key, or set LEPTON_KEY; "
    "LeptonAI(uri, encrypt=False) to store in clear"
)
_PUSH_KEY_CLI = (
    "pass --key-file FILE or set $LEPTON_KEY (64 hex digits or 44 base64 characters); "
    "--no-encrypt to store in clear"
)

KEY_HINT = "pass --key-file FILE or set $LEPTON_KEY (64 hex digits or 44 base64 characters)"


def _cli_message(e: LeptonError) -> str:
    """The error as the command line should say it: key advice names the flags, not the Python
    calls of the library's messages."""
    text = str(e)
    if isinstance(e, KeyRequiredError):
        text = text.replace(_PUSH_KEY_PYTHON, _PUSH_KEY_CLI)
        for python_advice in (
            "open the platform with its key (LeptonAI(uri, key=...))",
            "open it with LeptonAI(uri, key=...)",
            "open the platform with one (LeptonAI(key=...))",
        ):
            text = text.replace(python_advice, KEY_HINT)
        if KEY_HINT not in text:
            text = f"{text}; {KEY_HINT}"
    return text


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Runs ``lepton`` with ``argv`` (default: the command line); returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.func(args))
    except LeptonError as e:
        print(f"lepton: error: {_cli_message(_key_file_error(args, e))}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("lepton: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`lepton ls models | head`): stop quietly, as Unix tools do, and
        # keep Python from complaining again when it flushes stdout at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


if __name__ == "__main__":
    sys.exit(main())
