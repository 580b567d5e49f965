"""``python -m helpers generate``: flags from DecodingSettings, text out, one-line errors."""

from __future__ import annotations

from dataclasses import fields

import pytest
import torch

from helpers.cli import build_parser, main
from helpers.decoding import DecodingSettings


@pytest.fixture(autouse=True)
def _no_trained_model(monkeypatch, tmp_path):
    """The command prefers a saved fine-tuned model: make sure none is found here."""
    monkeypatch.setenv("GPT2LAB_TRAINED_MODEL", str(tmp_path / "no-model-here"))


def settings_from(argv: list[str]) -> DecodingSettings:
    args = build_parser().parse_args(["generate", *argv])
    return DecodingSettings(**{f.name: getattr(args, f.name) for f in fields(DecodingSettings)})


def test_every_setting_has_a_flag_with_the_dataclass_default():
    assert settings_from([]) == DecodingSettings()
    changed = settings_from(
        [
            "--strategy",
            "beam",
            "--max-new-tokens",
            "7",
            "--temperature",
            "0.5",
            "--top-k",
            "3",
            "--top-p",
            "0.8",
            "--repetition-penalty",
            "1.2",
            "--no-repeat-ngram-size",
            "2",
            "--num-beams",
            "5",
            "--length-penalty",
            "0.6",
            "--early-stopping",
            "--num-return-sequences",
            "2",
            "--seed",
            "11",
        ]
    )
    assert changed == DecodingSettings("beam", 7, 0.5, 3, 0.8, 1.2, 2, 5, 0.6, True, 2, 11)


def test_an_unknown_strategy_is_refused_by_the_parser(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["generate", "--strategy", "nucleus"])
    assert "invalid choice: 'nucleus'" in capsys.readouterr().err


def test_generate_prints_each_prompt_with_its_continuations(capsys):
    argv = [
        "generate",
        "--model",
        "gpt2lab-tiny",
        "--device",
        "cpu",
        "--prompt",
        "To be",
        "--prompt",
        "",
        "--strategy",
        "top-p",
        "--top-p",
        "0.9",
        "--seed",
        "1",
        "--max-new-tokens",
        "4",
        "--num-return-sequences",
        "2",
    ]
    with torch.random.fork_rng():
        assert main(argv) == 0
    out = capsys.readouterr().out
    blocks = out.split("--- ")[1:]
    assert [b.splitlines()[0] for b in blocks] == [f"{i} (top-p)" for i in range(1, 5)]
    assert blocks[0].splitlines()[1].startswith("To be") and blocks[1].splitlines()[1] != ""
    with torch.random.fork_rng():
        assert main(argv) == 0
    assert capsys.readouterr().out == out  # the seed makes it reproducible


def test_a_bad_value_is_one_line_naming_the_flag(capsys):
    assert (
        main(["generate", "--model", "gpt2lab-tiny", "--strategy", "top-p", "--top-p", "1.5"]) == 2
    )
    err = capsys.readouterr().err
    assert "error: top_p must be in (0, 1]" in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["--top-k", "50", "--temperature", "0.3"],
         "--strategy greedy would ignore --temperature, --top-k, which are for sampling "
         "(--strategy sample, top-k or top-p)"),
        (["--strategy", "sample", "--num-beams", "8"],
         "--strategy sample would ignore --num-beams, which are for beam search "
         "(--strategy beam)"),
        (["--strategy", "beam", "--seed", "3", "--temperature", "0.5"],
         "--strategy beam would ignore --temperature, --seed, which are for sampling"),
    ],
)  # fmt: skip
def test_a_setting_the_strategy_would_ignore_is_refused(argv, said, capsys):
    """Greedy search would otherwise run with --top-k given, and say nothing."""
    assert main(["generate", "--model", "gpt2lab-tiny", "--prompt", "Hi", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {said}") and "choose that strategy" in err, err


def test_settings_each_strategy_uses_are_not_reported_as_ignored():
    from helpers.decoding import ignored_settings, make_settings

    for strategy, used in [
        ("greedy", {"repetition_penalty": 1.2, "no_repeat_ngram_size": 2}),
        ("beam", {"num_beams": 2, "length_penalty": 0.5, "early_stopping": True}),
        ("sample", {"temperature": 0.7, "top_k": 5, "top_p": 0.9, "seed": 1}),
        ("top-k", {"top_k": 5, "temperature": 0.7, "seed": 1}),
        ("top-p", {"top_p": 0.9, "temperature": 0.7, "seed": 1}),
    ]:
        assert ignored_settings(make_settings(strategy=strategy, **used)) == {}, strategy
    assert ignored_settings(make_settings(strategy="greedy", num_beams=2, top_p=0.5)) == {
        "top_p": "sampling",
        "num_beams": "beam search",
    }
