import json
import subprocess
import sys
from pathlib import Path

import pytest

from helpers.cli import COMMANDS, build_parser, main
from helpers.modeling import build_offline_model, count_parameters

ROOT = Path(__file__).resolve().parents[1]


def test_help_lists_the_commands_without_importing_torch():
    """`--help` and a misspelt command answer at once: no command's flags are built, so
    nothing heavy is imported (the train flags alone import torch and transformers)."""
    probe = (
        "import sys\n"
        "from helpers.cli import main\n"
        "for argv in (['--help'], ['trian']):\n"
        "    try:\n"
        "        main(argv)\n"
        "    except SystemExit as stop:\n"
        "        print('exit', stop.code)\n"
        "heavy = {'torch', 'transformers', 'datasets', 'gradio'} & set(sys.modules)\n"
        "print('heavy', sorted(heavy))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert "exit 0" in done.stdout and "exit 2" in done.stdout, done.stdout
    assert "heavy []" in done.stdout, done.stdout
    for command in COMMANDS:
        assert command in done.stdout
    assert "invalid choice: 'trian'" in done.stderr


def test_every_command_alone_has_the_help_of_the_whole_command_line():
    """main() builds only the command it runs: that command's flags, help and defaults
    must be those of the whole parser, and the top-level help must list the same."""
    whole = build_parser()
    assert build_parser(flags=False).format_help() == whole.format_help()
    choices = whole._subparsers._group_actions[0].choices
    assert list(choices) == list(COMMANDS)
    for name, command in choices.items():
        alone = build_parser(name)._subparsers._group_actions[0].choices
        assert list(alone) == [name]
        assert alone[name].format_help() == command.format_help(), name
        assert defaults(alone[name]) == defaults(command), name


def defaults(parser) -> dict:
    """Each flag's default, and what the command sets without a flag (which function runs)."""
    return {**{a.dest: a.default for a in parser._actions}, **parser._defaults}


def test_env_prints_json(capsys, monkeypatch):
    """The JSON is the environment report of this very moment, every key of it."""
    from helpers.environment import describe_environment

    for quick in ("1", "0"):
        monkeypatch.setenv("GPT2LAB_QUICK", quick)
        assert main(["env", "--json"]) == 0
        report = json.loads(capsys.readouterr().out)
        assert report["quick_mode"] is (quick == "1")
        assert report == json.loads(json.dumps(describe_environment()))
    assert main(["env"]) == 0  # without --json: the aligned text form
    assert capsys.readouterr().out.startswith("python")


def test_model_describes_the_offline_base_and_the_tiny_model(capsys, monkeypatch):
    from helpers.offline_model import load_base_model

    monkeypatch.setattr("helpers.model_source._in_hub_cache", lambda repo_id: False)
    assert main(["model", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "base (gpt2lab-base)" in out and "not GPT-2" in out
    assert f"{count_parameters(load_base_model()):,}" in out
    monkeypatch.setenv("GPT2LAB_MODEL", "gpt2lab-tiny")
    assert main(["model", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "offline (gpt2lab-tiny)" in out and "no, random weights" in out
    assert f"{count_parameters(build_offline_model()):,}" in out


def test_a_bad_model_gives_one_clear_line_not_a_traceback(capsys):
    assert main(["model", "--model", "./missing/model"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: There is no folder") and "Traceback" not in err


def test_no_fallback_flag_is_an_error_offline(capsys, monkeypatch):
    monkeypatch.setattr("helpers.model_source._in_hub_cache", lambda repo_id: False)
    assert main(["model", "--no-fallback"]) == 2
    assert "Cannot load 'gpt2'" in capsys.readouterr().err


def test_check_notebooks_passes_on_the_course(capsys):
    assert main(["check-notebooks", "--dir", "notebooks"]) == 0


def test_train_help_states_each_default_once_and_the_rates_in_use():
    """Every flag's help gives one default, and the learning rates it names are the ones
    that training uses (they come from the constants, so they cannot drift apart)."""
    import re

    from helpers.cli import build_parser
    from helpers.training.config import (
        FINE_TUNING_LEARNING_RATE,
        FROM_SCRATCH_LEARNING_RATES,
        SMALL_BASE_LEARNING_RATES,
        default_learning_rate,
    )

    train = build_parser()._subparsers._group_actions[0].choices["train"]
    for action in train._actions:
        assert (action.help or "").count("(default:") <= 1, action.option_strings
    rate_help = " ".join(
        a.help for a in train._actions if "--learning-rate" in a.option_strings
    ).replace("-\n", "")
    named = [float(x) for x in re.findall(r"(\d(?:\.\d+)?(?:e-\d+)?) (?:to|for)", rate_help)]
    expected = [
        default_learning_rate(from_scratch=False),
        *(default_learning_rate(False, base) for base in SMALL_BASE_LEARNING_RATES),
        default_learning_rate(from_scratch=True),
    ]
    assert named == expected
    assert expected[0] == FINE_TUNING_LEARNING_RATE
    assert expected[-1] == FROM_SCRATCH_LEARNING_RATES["body"]


def test_run_notebooks_says_which_notebooks_exist_when_none_matches(tmp_path, capsys):
    notebooks = ROOT / "notebooks"
    assert (
        main(["run-notebooks", "--dir", str(notebooks), "--output", str(tmp_path), "--only", "99"])
        == 1
    )
    said = capsys.readouterr().err
    assert "No notebook in" in said and "starts with 99" in said and "03_fine_tuning" in said
    assert main(["run-notebooks", "--dir", str(tmp_path), "--output", str(tmp_path)]) == 1
    assert "No numbered notebooks" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())  # nothing was run


def test_a_shortened_flag_is_refused_not_taken_for_a_longer_one(capsys):
    """argparse's default would read `--text x` as `--text-column x` (and `--se` as
    `--seed`): the command would then fail on something else, or run with a wrong setting."""
    import pytest

    from helpers.cli import build_parser

    for command in (
        ["dataset-stats", "--text", "x.txt"],
        ["train", "--text", "x.txt"],
        ["generate", "--se", "3"],
        ["train", "--checkpoint-direc", "/tmp/c"],
    ):
        with pytest.raises(SystemExit) as stopped:
            build_parser().parse_args(command)
        assert stopped.value.code == 2
        assert f"unrecognized arguments: {' '.join(command[1:])}" in capsys.readouterr().err
    # the whole names, and the one alias, still work
    args = build_parser().parse_args(["dataset-stats", "--text-column", "body"])
    assert args.text_column == "body"
    for flag in ("--checkpoint-directory", "--checkpoint-dir"):
        args = build_parser().parse_args(["train", flag, "/tmp/c"])
        assert args.checkpoint_directory == "/tmp/c"


@pytest.mark.parametrize(
    "argv",
    [
        ["check-notebooks", "--dir", "notebooks"],
        ["prepare-data", "--corpus", "general"],  # make test has fetched it: "already in"
        ["run-notebooks", "--only", "99"],  # no such notebook: it stops before running any
        ["app", "--port", "99999"],  # refused before the model (and torch) loads
        ["app", "--host", "999.1.1.1", "--port", "0"],
    ],
    ids=lambda argv: "-".join(argv[:2]),
)
def test_the_data_and_notebook_commands_run_without_torch(argv):
    """make install runs prepare-data and make run runs run-notebooks: neither needs torch
    (nor transformers), which take seconds to import; their help is the full parser's.
    Nor does the app to refuse where it cannot be served."""
    probe = (
        "import sys\n"
        "from helpers.cli import main\n"
        f"status = main({argv!r})\n"
        "heavy = sorted({'torch', 'transformers', 'gradio'} & set(sys.modules))\n"
        "print('status', status, 'heavy', heavy)\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    expected = {"run-notebooks": 1, "app": 2}.get(argv[0], 0)
    assert f"status {expected} heavy []" in done.stdout, done.stdout + done.stderr
    from helpers.cli import build_parser

    def help_of(parser) -> str:
        return parser._subparsers._group_actions[0].choices[argv[0]].format_help()

    assert help_of(build_parser(argv[0])) == help_of(build_parser())


def test_a_light_command_still_refuses_a_shortened_flag(capsys):
    with pytest.raises(SystemExit):
        main(["prepare-data", "--corp", "milton"])
    assert "unrecognized arguments: --corp" in capsys.readouterr().err


def test_the_default_folders_are_the_course_s_from_another_folder(tmp_path, monkeypatch, capsys):
    """``python -m helpers check-notebooks`` run from elsewhere still checks the course."""
    from helpers.environment import project_root

    monkeypatch.chdir(tmp_path)
    assert main(["check-notebooks"]) == 0
    assert capsys.readouterr().out == (
        f"All notebook pairs in {project_root() / 'notebooks'} are in sync.\n"
    )
    (tmp_path / "notebooks").mkdir()  # a folder of that name here is the one meant
    assert main(["check-notebooks"]) == 1
    assert capsys.readouterr().out == (
        "- No numbered notebooks (NN_topic.py / NN_topic.ipynb) found in notebooks.\n"
    )
