"""``python -m helpers <command>``: the same functions the notebooks call, from a shell.

This file declares the commands, their flags and how errors are told;
``helpers/commands.py`` holds what each command does. ``python -m helpers --help`` lists
them.
"""

from __future__ import annotations

import argparse
import errno
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from helpers import commands

COURSE_FOLDER_DEFAULTS = {"data": "data/shakespeare", "dir": "notebooks"}
"""Flags whose defaults are folders of the course: run from another folder, they still
mean the course's (unless that folder has one of the same name)."""


def _quick() -> bool:
    from helpers.environment import is_quick_mode

    return is_quick_mode()


def _flags_from_dataclass(parser: argparse.ArgumentParser, settings_class: type) -> None:
    """One ``--flag`` per field of a settings dataclass: its default, type and help text
    (and any other names in the field's ``flag_aliases``)."""
    from dataclasses import MISSING, fields

    for item in fields(settings_class):
        flags = ["--" + item.name.replace("_", "-"), *item.metadata.get("flag_aliases", ())]
        help_text = item.metadata.get("help", "")
        default = item.default if item.default is not MISSING else None
        if item.default_factory is not MISSING:
            default = item.default_factory()
        if isinstance(default, bool):
            parser.add_argument(
                *flags, action=argparse.BooleanOptionalAction, default=default, help=help_text
            )
            continue
        kind = item.metadata.get("type") or (type(default) if default is not None else int)
        choices = item.metadata.get("choices")
        if "(default:" not in help_text:  # a help text that explains its default keeps it
            help_text = f"{help_text} (default: {default})"
        parser.add_argument(*flags, type=kind, default=default, choices=choices, help=help_text)


def _env_flags(env: argparse.ArgumentParser) -> None:
    env.add_argument("--json", action="store_true", help="print the report as JSON")
    env.set_defaults(run=commands.run_env)


def _model_flags(model: argparse.ArgumentParser) -> None:
    model.add_argument(
        "--model",
        default=None,
        help="folder, Hub name or gpt2lab-tiny (default: $GPT2LAB_MODEL or gpt2)",
    )
    model.add_argument("--device", default=None, help="cpu, cuda or mps (default: the best)")
    model.add_argument(
        "--no-fallback", action="store_true", help="fail instead of using the offline model"
    )
    model.set_defaults(run=commands.run_model)


def _prepare_data_flags(prepare: argparse.ArgumentParser) -> None:
    prepare.add_argument(
        "--corpus",
        default="all",
        choices=["all", "shakespeare", "milton", "general"],
        help="which one (general: the public-domain English the offline base was pretrained on)",
    )
    prepare.add_argument(
        "--data-dir", default=None, help="where the corpora go (default: data/ in the course)"
    )
    prepare.set_defaults(run=commands.run_prepare_data)


def _dataset_stats_flags(stats: argparse.ArgumentParser) -> None:
    stats.add_argument(
        "--data", default=COURSE_FOLDER_DEFAULTS["data"], help="a .txt/.csv/.jsonl or folder"
    )
    stats.add_argument("--block-size", type=int, default=128, help="tokens per block")
    stats.add_argument("--validation-fraction", type=float, default=0.1)
    stats.add_argument("--split", default="auto", choices=["auto", "document", "contiguous"])
    stats.add_argument("--text-column", default="text", help="column/field of a .csv/.jsonl")
    stats.add_argument("--encoding", default="utf-8", help="text encoding of the files")
    stats.add_argument("--seed", type=int, default=0)
    stats.add_argument("--model", default=None, help="whose tokenizer (default: as load_model)")
    stats.set_defaults(run=commands.run_dataset_stats)


def _generate_flags(generate: argparse.ArgumentParser) -> None:
    from helpers.decoding import DecodingSettings

    generate.add_argument(
        "--prompt", action="append", help="a prompt (repeat for several; default: empty)"
    )
    generate.add_argument(
        "--model",
        default=None,
        help="folder, Hub name or gpt2lab-tiny (default: the fine-tuned model if saved, "
        "else $GPT2LAB_MODEL or gpt2)",
    )
    generate.add_argument("--device", default=None, help="cpu, cuda or mps (default: the best)")
    _flags_from_dataclass(generate, DecodingSettings)
    generate.set_defaults(run=commands.run_generate)


def _train_flags(train: argparse.ArgumentParser) -> None:
    from helpers.data import COURSE_SPLIT
    from helpers.training import TrainingConfig

    train.description = (
        "Train on a text file or folder (.txt/.csv/.jsonl); the best model is saved with "
        "save_pretrained. Re-running the same command resumes from the latest checkpoint. "
        "Several processes (GPUs, or CPU processes with gloo): "
        "accelerate launch --multi_gpu --num_processes N -m helpers train ..."
    )
    train.add_argument(
        "--data", default=COURSE_FOLDER_DEFAULTS["data"], help="a .txt/.csv/.jsonl or folder"
    )
    train.add_argument(
        "--validation-fraction", type=float, default=COURSE_SPLIT["validation_fraction"]
    )
    train.add_argument(
        "--test-fraction",
        type=float,
        default=COURSE_SPLIT["test_fraction"],
        help="held out, never trained on (default: the course's split)",
    )
    train.add_argument("--split-seed", type=int, default=COURSE_SPLIT["seed"])
    train.add_argument("--split", default="auto", choices=["auto", "document", "contiguous"])
    train.add_argument("--text-column", default="text", help="column/field of a .csv/.jsonl")
    train.add_argument("--encoding", default="utf-8", help="text encoding of the files")
    train.add_argument("--max-documents", type=int, default=None, help="use the first N only")
    _flags_from_dataclass(train, TrainingConfig)
    train.add_argument("--lr", dest="learning_rate", type=float, help="same as --learning-rate")
    train.add_argument("--output", dest="output_dir", help="same as --output-dir")
    # quick mode (GPT2LAB_QUICK=1) shrinks the run, as in the notebooks
    train.set_defaults(
        run=commands.run_train, **vars(TrainingConfig.for_mode()) if _quick() else {}
    )
    train.set_defaults(output_dir=TrainingConfig().output_dir)


def _pretrain_base_flags(pretrain: argparse.ArgumentParser) -> None:
    pretrain.add_argument(
        "--seconds", type=float, default=720.0, help="training time (the schedule ends then)"
    )
    pretrain.add_argument(
        "--steps", type=int, default=None, help="a fixed step count instead (repeatable)"
    )
    pretrain.add_argument(
        "--out",
        required=True,
        help="folder for the model (save_pretrained); a model saved there before is replaced",
    )
    pretrain.add_argument("--seed", type=int, default=0, help="seed of weights and data order")
    pretrain.add_argument("--batch-size", type=int, default=16, help="blocks of 128 per step")
    pretrain.add_argument("--precision", default="auto", choices=["auto", "bf16", "fp16", "fp32"])
    pretrain.add_argument("--cpu", action="store_true", help="train on the CPU even with a GPU")
    pretrain.add_argument(
        "--dropout", type=float, default=0.0, help="dropout while pretraining (saved as 0)"
    )
    pretrain.add_argument(
        "--corpus-dir", default=None, help="where the general text goes (default: data/general)"
    )
    pretrain.set_defaults(run=commands.run_pretrain_base)


def _app_flags(app: argparse.ArgumentParser) -> None:
    from helpers.app_requests import AppConfig

    app.add_argument(
        "--model",
        default=None,
        help="folder, Hub name or gpt2lab-tiny (default: the fine-tuned model if saved)",
    )
    app.add_argument("--device", default=None, help="cpu, cuda or mps (default: the best)")
    _flags_from_dataclass(app, AppConfig)
    app.set_defaults(run=commands.run_app)


def _check_notebooks_flags(check: argparse.ArgumentParser) -> None:
    check.add_argument(
        "--dir", default=COURSE_FOLDER_DEFAULTS["dir"], help="notebook folder (default: notebooks)"
    )
    check.set_defaults(run=commands.run_check_notebooks)


def _run_notebooks_flags(run: argparse.ArgumentParser) -> None:
    run.add_argument(
        "--dir", default=COURSE_FOLDER_DEFAULTS["dir"], help="notebook folder (default: notebooks)"
    )
    run.add_argument("--output", default="runs/latest", help="where results go")
    run.add_argument("--only", nargs="*", help="run only notebooks whose name starts so (01 03)")
    run.add_argument("--timeout", type=int, default=1800, help="seconds allowed per cell")
    run.set_defaults(run=commands.run_notebooks)


# every command, in the order `--help` lists them: (what it does, the function adding its flags)
COMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None]]] = {
    "env": ("print versions, device and modes", _env_flags),
    "model": ("load a model and describe where it came from", _model_flags),
    "prepare-data": (
        "obtain the sample corpora (Shakespeare, Milton) and the base's general text",
        _prepare_data_flags,
    ),
    "dataset-stats": (
        "clean, split, tokenize and pack a dataset; print its statistics",
        _dataset_stats_flags,
    ),
    "generate": ("continue prompts with greedy, beam search or sampling", _generate_flags),
    "train": (
        "fine-tune (or, offline, train from scratch) a model on text; resumable",
        _train_flags,
    ),
    "pretrain-base": (
        "pretrain the offline base model (gpt2lab-base) on general English text",
        _pretrain_base_flags,
    ),
    "app": ("serve the model in a small web app (Gradio) with feedback buttons", _app_flags),
    "check-notebooks": (
        "check every .py/.ipynb notebook pair is present and in sync",
        _check_notebooks_flags,
    ),
    "run-notebooks": (
        "execute the notebooks in order, with an HTML export of each",
        _run_notebooks_flags,
    ),
}


def build_parser(only: str | None = None, flags: bool = True) -> argparse.ArgumentParser:
    """The command line: every command with its flags; with ``only``, that command alone;
    with ``flags=False``, every command's name and help but no flags (enough for
    ``--help`` and for a misspelt command, and it imports nothing)."""
    parser = argparse.ArgumentParser(
        prog="python -m helpers", description="GPT-2 Lab from the command line."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="command")
    for name, (help_text, add_flags) in COMMANDS.items():
        if only is None or name == only:
            command = commands.add_parser(name, help=help_text)
            if flags:
                add_flags(command)
    return _whole_flag_names_only(parser, commands)


def _whole_flag_names_only(
    parser: argparse.ArgumentParser, commands: argparse._SubParsersAction
) -> argparse.ArgumentParser:
    """argparse would otherwise take `--text` for `--text-column` and `--seed` typed as
    `--se` silently, and the error would be about something else."""
    parser.allow_abbrev = False
    for command in commands.choices.values():
        command.allow_abbrev = False
    return parser


def _defaults_from_the_course_folder(args: argparse.Namespace) -> None:
    from helpers.environment import project_root

    for name, default in COURSE_FOLDER_DEFAULTS.items():
        in_course = project_root() / default
        if (
            getattr(args, name, None) == default
            and not Path(default).exists()
            and in_course.exists()
        ):
            setattr(args, name, str(in_course))


def _file_error_message(error: OSError) -> str | None:
    """One line for the file-system errors a user can fix (a full disk, a path they may not
    read or write, a file where a folder belongs, or the reverse), naming the path; None
    for any other error."""
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        return f"the disk is full ({error}): free some space, then run it again."
    path = error.filename
    fixes = {
        errno.EACCES: "permission denied: fix its permissions (chmod) or choose another path",
        errno.EPERM: "not permitted: fix its permissions (chmod) or choose another path",
        errno.EROFS: "the disk is read-only: choose a path on a disk you can write to",
        errno.EEXIST: "a file is there where a folder is needed: give another path",
        errno.ENOTDIR: "a file is on the path where a folder is needed: give another path",
        errno.EISDIR: "it is a folder where a file is needed: give a file's path",
    }
    if path is None or error.errno not in fixes:
        return None
    return f"{path}: {fixes[error.errno]}."


def main(argv: Sequence[str] | None = None) -> int:
    try:
        argv = sys.argv[1:] if argv is None else list(argv)
        named = argv[0] if argv and argv[0] in COMMANDS else None  # else: help, or an error
        parser = build_parser(only=named, flags=named is not None)
        args = parser.parse_args(argv)  # (the train flags read GPT2LAB_QUICK)
        _defaults_from_the_course_folder(args)
        return args.run(args)
    except (ValueError, RuntimeError) as error:  # our clear errors, e.g. ModelNotAvailableError
        print(f"error: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        message = _file_error_message(error)
        if message is None:
            raise  # not ours to explain: the traceback says where
        print(f"error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # Ctrl-C outside the training loop (which saves and exits 130)
        print("error: interrupted (Ctrl-C); nothing half-written was kept.", file=sys.stderr)
        return 130
