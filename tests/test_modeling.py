import hashlib
import json
import os
from pathlib import Path

import pytest
import torch
from transformers import GPT2LMHeadModel

from helpers import model_source, modeling
from helpers.hub_cache import _in_hub_cache, _tokenizer_in_hub_cache
from helpers.model_source import locate_model
from helpers.modeling import (
    BASE_MODEL_NAME,
    OFFLINE_MODEL_NAME,
    ModelNotAvailableError,
    OfflineModelConfig,
    build_offline_model,
    count_parameters,
    gpt2_tokenizer_from_package,
    load_model,
    load_model_and_tokenizer,
    load_tokenizer,
    save_model,
)

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def cache_files(cache, repo_id: str, files: dict[str, bytes | str]) -> Path:
    """Put files in the Hub cache as huggingface_hub does (blob + snapshot link + ref)."""
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    snapshot = repo / "snapshots" / COMMIT
    snapshot.mkdir(parents=True, exist_ok=True)
    (repo / "blobs").mkdir(exist_ok=True)
    (repo / "refs").mkdir(exist_ok=True)
    (repo / "refs" / "main").write_text(COMMIT)
    for name, content in files.items():
        data = content.encode() if isinstance(content, str) else content
        blob = repo / "blobs" / hashlib.sha256(data).hexdigest()
        blob.write_bytes(data)
        (snapshot / name).symlink_to(os.path.relpath(blob, snapshot))
    return snapshot


def test_tokenizer_is_gpt2s_real_bpe(gpt2_tokenizer):
    assert gpt2_tokenizer("Hello world")["input_ids"] == [15496, 995]
    assert gpt2_tokenizer.eos_token == "<|endoftext|>" and gpt2_tokenizer.eos_token_id == 50256
    assert len(gpt2_tokenizer) == 50257
    assert gpt2_tokenizer("<|endoftext|>")["input_ids"] == [50256]
    assert gpt2_tokenizer.pad_token == gpt2_tokenizer.eos_token
    text = "Byte-level BPE round-trips anything: naïve café, 日本語, 😀"
    assert gpt2_tokenizer.decode(gpt2_tokenizer(text)["input_ids"]) == text


def test_gpt2s_bpe_files_ship_with_the_helpers():
    vocab, merges = modeling.gpt2_bpe_files()
    assert vocab.parent == merges.parent == modeling.GPT2_BPE_DIR
    assert len(json.loads(vocab.read_text(encoding="utf-8"))) == 50257
    assert merges.read_text(encoding="utf-8").startswith("#version: 0.2\n")
    assert gpt2_tokenizer_from_package()("Hello world")["input_ids"] == [15496, 995]


def test_offline_tokenizer_knows_the_offline_context(empty_hub_cache):
    tokenizer = load_tokenizer("gpt2")
    assert tokenizer.model_max_length == OfflineModelConfig().n_positions
    assert tokenizer("Hello world")["input_ids"] == [15496, 995]


def test_without_the_shipped_base_the_untrained_model_stands_in(
    empty_hub_cache, no_network, monkeypatch, tmp_path
):
    monkeypatch.setattr("helpers.offline_model.BASE_MODEL_DIR", tmp_path / "missing")
    source = locate_model("gpt2")
    assert source.kind == "offline" and "pretrained base is missing" in source.reason
    with pytest.raises(ModelNotAvailableError, match="git checkout -- src/helpers/assets"):
        load_model(BASE_MODEL_NAME, device="cpu")


def test_fallback_can_be_made_an_error(empty_hub_cache, no_network):
    with pytest.raises(ModelNotAvailableError, match="Cannot load 'gpt2'.*HF_HUB_OFFLINE"):
        load_model("gpt2", allow_offline_fallback=False)


def test_offline_base_loads_with_a_banner(empty_hub_cache, capsys):
    model, tokenizer = load_model_and_tokenizer(device="cpu")
    banner = capsys.readouterr().err
    assert "Asked for : gpt2" in banner and "the offline base 'gpt2lab-base'" in banner
    assert "not GPT-2" in banner and "pretrained here" in banner
    assert isinstance(model, GPT2LMHeadModel) and not model.training
    assert model.dtype == torch.float32 and model.config.tie_word_embeddings
    assert tokenizer.model_max_length == model.config.n_positions == 128
    ids = tokenizer("To be or not to be", return_tensors="pt")["input_ids"]
    assert model(ids, labels=ids).loss.item() < 8.0  # pretrained: better than uniform (10.8)


def test_untrained_model_loads_with_a_banner(empty_hub_cache, capsys, caplog):
    model, tokenizer = load_model_and_tokenizer(OFFLINE_MODEL_NAME, device="cpu")
    banner = capsys.readouterr().err
    assert f"Asked for : {OFFLINE_MODEL_NAME}" in banner and "gpt2lab-tiny" in banner
    assert "RANDOM weights" in banner and "not pretrained GPT-2" in banner
    assert isinstance(model, GPT2LMHeadModel) and not model.training
    config = OfflineModelConfig()
    assert (model.config.n_layer, model.config.n_embd) == (config.n_layer, config.n_embd)
    assert model.config.vocab_size == len(tokenizer)
    # the transformers 5 "loss_type=None" warning is silenced by naming the loss
    ids = tokenizer("To be or not to be", return_tensors="pt")["input_ids"]
    loss = model(ids, labels=ids).loss
    assert torch.isfinite(loss)
    assert "loss_type" not in capsys.readouterr().err + caplog.text


def test_offline_weights_depend_only_on_the_seed():
    torch.manual_seed(99)
    before = torch.rand(1)
    a, b, c = build_offline_model(seed=1), build_offline_model(seed=1), build_offline_model(seed=2)
    torch.manual_seed(99)
    assert torch.equal(torch.rand(1), before)  # the global generator is left alone
    weight = "transformer.h.0.attn.c_attn.weight"
    assert torch.equal(a.state_dict()[weight], b.state_dict()[weight])
    assert not torch.equal(a.state_dict()[weight], c.state_dict()[weight])


def test_parameter_count_counts_tied_weights_once():
    tied = build_offline_model(OfflineModelConfig(tie_word_embeddings=True))
    assert tied.lm_head.weight is tied.transformer.wte.weight
    assert count_parameters(tied) == tied.num_parameters()
    untied = build_offline_model()
    assert untied.lm_head.weight is not untied.transformer.wte.weight
    extra = untied.lm_head.weight.numel()  # 50,257 x width
    assert count_parameters(untied) == count_parameters(tied) + extra == 13_278_976


def test_the_offline_model_starts_with_every_token_equally_likely():
    model = build_offline_model(seed=5).eval()
    with torch.no_grad():
        logits = model(torch.tensor([[15496, 995, 11]])).logits
    assert torch.count_nonzero(logits) == 0  # a zero output layer: the uniform distribution
    assert model.config.resid_pdrop == model.config.attn_pdrop == 0.0
    assert any(p.abs().sum() > 0 for p in model.transformer.parameters())  # the rest is random


def test_save_and_load_round_trip(tmp_path, gpt2_tokenizer, capsys):
    model = build_offline_model(seed=3).eval()
    target = save_model(model, gpt2_tokenizer, tmp_path / "model")
    save_model(model, gpt2_tokenizer, tmp_path / "model")  # overwriting works too
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]  # no staging leftovers
    assert (target / "model.safetensors").is_file() and (target / "tokenizer.json").is_file()
    capsys.readouterr()

    loaded, loaded_tokenizer = load_model_and_tokenizer(target, device="cpu")
    assert "offline model" not in capsys.readouterr().err  # a real folder: no banner
    assert locate_model(target).kind == "local"
    ids = gpt2_tokenizer("Good morrow, cousin", return_tensors="pt")["input_ids"]
    with torch.no_grad():
        assert torch.allclose(model(ids).logits, loaded(ids).logits)
    assert loaded_tokenizer("Hello world")["input_ids"] == [15496, 995]
    assert loaded_tokenizer.pad_token == "<|endoftext|>"


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("./no/such/model", "There is no folder"),
        ("runs/latest/model", "There is no folder"),
        ("not a name!!", "neither an existing folder nor a valid Hub model name"),
    ],
)
def test_bad_model_names_get_clear_errors(name, message, no_network):
    with pytest.raises(ModelNotAvailableError, match=message):
        load_model(name)


def test_a_folder_that_is_not_a_model(tmp_path):
    (tmp_path / "notes.txt").write_text("not a model")
    with pytest.raises(ModelNotAvailableError, match="holds no config.json"):
        load_model(tmp_path)
    with pytest.raises(ModelNotAvailableError, match="is a file"):
        load_model(tmp_path / "notes.txt")


def test_trained_model_is_found_only_when_saved(tmp_path, monkeypatch, gpt2_tokenizer):
    monkeypatch.setenv("GPT2LAB_TRAINED_MODEL", str(tmp_path / "finetuned"))
    assert modeling.trained_model_dir() == tmp_path / "finetuned"
    assert modeling.find_trained_model() is None
    save_model(build_offline_model(), gpt2_tokenizer, tmp_path / "finetuned")
    assert modeling.find_trained_model() == tmp_path / "finetuned"


def test_a_folder_with_only_the_model_gets_gpt2s_tokenizer(tmp_path, capsys):
    build_offline_model().save_pretrained(tmp_path / "model_only")
    _, tokenizer = load_model_and_tokenizer(tmp_path / "model_only", device="cpu")
    assert len(tokenizer) == 50257 and tokenizer("Hello world")["input_ids"] == [15496, 995]
    assert tokenizer.model_max_length == OfflineModelConfig().n_positions
    assert "holds no tokenizer files" in capsys.readouterr().err


def test_a_non_gpt2_folder_without_tokenizer_is_an_error(tmp_path):
    from transformers import GPT2Config

    GPT2LMHeadModel(GPT2Config(vocab_size=100, n_layer=1, n_embd=8, n_head=2)).save_pretrained(
        tmp_path / "small_vocab"
    )
    with pytest.raises(ModelNotAvailableError, match="holds a model but no tokenizer"):
        load_model_and_tokenizer(tmp_path / "small_vocab")


def test_broken_folders_get_clear_errors(tmp_path, gpt2_tokenizer):
    save_model(build_offline_model(), gpt2_tokenizer, tmp_path / "no_weights")
    (tmp_path / "no_weights" / "model.safetensors").unlink()
    with pytest.raises(ModelNotAvailableError, match="Could not load the model .*no_weights"):
        load_model(tmp_path / "no_weights")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "config.json").write_text("{not json")
    with pytest.raises(ModelNotAvailableError, match="config.json in .*bad' cannot be read"):
        load_model(tmp_path / "bad")


def test_course_model_prefers_argument_then_trained_then_env_then_default(
    tmp_path, monkeypatch, gpt2_tokenizer
):
    monkeypatch.setenv("GPT2LAB_TRAINED_MODEL", str(tmp_path / "finetuned"))
    assert modeling.course_model_choice()[0] is None
    assert "No fine-tuned model" in modeling.course_model_choice()[1]
    monkeypatch.setenv("GPT2LAB_MODEL", "distilgpt2")
    assert modeling.course_model_choice() == ("distilgpt2", "Using GPT2LAB_MODEL=distilgpt2.")
    monkeypatch.delenv("GPT2LAB_MODEL")
    save_model(build_offline_model(), gpt2_tokenizer, tmp_path / "finetuned")
    assert modeling.course_model_choice() == (
        str(tmp_path / "finetuned"),
        f"Using the model fine-tuned and saved in {tmp_path / 'finetuned'}.",
    )
    record = {"resolved": {"trained_from_scratch": True, "base_model": OFFLINE_MODEL_NAME}}
    (tmp_path / "finetuned" / "training_args.json").write_text(json.dumps(record))
    reason = "trained from scratch from gpt2lab-tiny and saved in"
    assert reason in modeling.course_model_choice()[1]
    assert modeling.course_model_choice("distilgpt2")[0] == "distilgpt2"  # asked for: wins
    # GPT2LAB_MODEL picks the model to start from: the course goes on with it trained ...
    monkeypatch.setenv("GPT2LAB_MODEL", OFFLINE_MODEL_NAME)
    assert modeling.course_model_choice()[0] == str(tmp_path / "finetuned")
    # ... and another model than the one the saved model came from is used itself
    monkeypatch.setenv("GPT2LAB_MODEL", BASE_MODEL_NAME)
    chosen, why = modeling.course_model_choice()
    assert chosen == BASE_MODEL_NAME and "trained from gpt2lab-tiny, not from it" in why
    # offline, a Hub name stands for the base it falls back to
    record["resolved"] = {"trained_from_scratch": False, "base_model": BASE_MODEL_NAME}
    (tmp_path / "finetuned" / "training_args.json").write_text(json.dumps(record))
    monkeypatch.setattr("helpers.model_source._in_hub_cache", lambda repo_id: False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("GPT2LAB_MODEL", "gpt2")
    assert modeling.course_model_choice()[0] == str(tmp_path / "finetuned")
    # a folder to start from, however it is written
    save_model(build_offline_model(), gpt2_tokenizer, tmp_path / "start")
    record["resolved"]["base_model"] = str(tmp_path / "finetuned" / ".." / "start")
    (tmp_path / "finetuned" / "training_args.json").write_text(json.dumps(record))
    monkeypatch.setenv("GPT2LAB_MODEL", str(tmp_path / "start"))
    assert modeling.course_model_choice()[0] == str(tmp_path / "finetuned")


def test_load_course_model_uses_the_trained_model(tmp_path, monkeypatch, gpt2_tokenizer, capsys):
    monkeypatch.setenv("GPT2LAB_TRAINED_MODEL", str(tmp_path / "finetuned"))
    save_model(build_offline_model(seed=5), gpt2_tokenizer, tmp_path / "finetuned")
    model, _, source = modeling.load_course_model(device="cpu")
    assert source.kind == "local" and "fine-tuned and saved" in capsys.readouterr().out
    expected = build_offline_model(seed=5).state_dict()["transformer.wte.weight"]
    assert torch.equal(model.state_dict()["transformer.wte.weight"], expected)


# ------------------------------------------------------------------ the local Hub cache

CONFIG = json.dumps({"model_type": "gpt2", "vocab_size": 50257})


@pytest.mark.parametrize(
    ("files", "model_cached", "tokenizer_cached"),
    [
        ({}, False, False),
        ({"config.json": CONFIG}, False, False),  # what AutoConfig leaves
        # what AutoTokenizer.from_pretrained leaves: config and tokenizer, no weights
        ({"config.json": CONFIG, "tokenizer.json": "{}", "tokenizer_config.json": "{}"},
         False, True),
        ({"config.json": CONFIG, "vocab.json": "{}", "merges.txt": ""}, False, True),
        ({"config.json": CONFIG, "vocab.json": "{}"}, False, False),
        ({"tokenizer.json": "{}"}, False, False),  # no config: the tokenizer class is unknown
        ({"config.json": CONFIG, "model.safetensors": b"w"}, True, False),
        ({"config.json": CONFIG, "pytorch_model.bin": b"w"}, True, False),
        ({"model.safetensors": b"w"}, False, False),  # weights without a config
    ],
)  # fmt: skip
def test_the_cache_check_wants_every_file_a_load_needs(
    hub_cache, files, model_cached, tokenizer_cached
):
    if files:
        cache_files(hub_cache, "gpt2", files)
    assert _in_hub_cache("gpt2") is model_cached
    assert _tokenizer_in_hub_cache("gpt2") is tokenizer_cached


def test_a_sharded_model_is_cached_only_with_all_its_shards(hub_cache):
    index = {"weight_map": {"a": "model-00001-of-00002.safetensors",
                            "b": "model-00002-of-00002.safetensors"}}  # fmt: skip
    files = {"config.json": CONFIG, "model.safetensors.index.json": json.dumps(index)}
    cache_files(hub_cache, "owner/big", {**files, "model-00001-of-00002.safetensors": b"1"})
    assert not _in_hub_cache("owner/big")
    cache_files(hub_cache, "owner/big", {"model-00002-of-00002.safetensors": b"2"})
    assert _in_hub_cache("owner/big")


def test_a_file_the_hub_said_is_missing_does_not_count_as_cached(hub_cache):
    cache_files(hub_cache, "gpt2", {"config.json": CONFIG})
    no_exist = hub_cache / "models--gpt2" / ".no_exist" / COMMIT
    no_exist.mkdir(parents=True)
    (no_exist / "model.safetensors").touch()
    assert not _in_hub_cache("gpt2")


def test_a_cached_tokenizer_without_weights_is_not_a_cached_model(hub_cache, no_network):
    cache_files(hub_cache, "gpt2", {"config.json": CONFIG, "tokenizer.json": "{}"})
    source = locate_model("gpt2")  # HF_HUB_OFFLINE=1 in the tests: no Hub either
    assert source.kind == "base" and "not in the local Hub cache" in source.reason


def cache_model(cache, repo_id: str, model, tokenizer, tmp_path) -> None:
    """Cache a real saved model (config, weights, tokenizer) under ``repo_id``."""
    saved = save_model(model, tokenizer, tmp_path / f"saved-{repo_id.replace('/', '-')}")
    cache_files(cache, repo_id, {p.name: p.read_bytes() for p in saved.iterdir() if p.is_file()})


def test_a_fully_cached_model_loads_from_the_cache_without_the_network(
    hub_cache, gpt2_tokenizer, tmp_path, no_network
):
    cache_model(hub_cache, "owner/tiny", build_offline_model(seed=4), gpt2_tokenizer, tmp_path)
    assert locate_model("owner/tiny").kind == "hub-cache"
    model, loaded_tokenizer = load_model_and_tokenizer("owner/tiny", device="cpu")
    expected = build_offline_model(seed=4).state_dict()["transformer.wte.weight"]
    assert torch.equal(model.state_dict()["transformer.wte.weight"], expected)
    assert loaded_tokenizer("Hello world")["input_ids"] == [15496, 995]


class FlakyCacheLoader:
    """A from_pretrained that fails cache-only (a cache missing a file) and works online."""

    def __init__(self, result):
        self.result = result
        self.calls: list[tuple[str, bool]] = []

    def from_pretrained(self, name, local_files_only=False, **kwargs):
        self.calls.append((name, local_files_only))
        if local_files_only:
            raise OSError(f"{name} does not appear to have a file named model.safetensors.")
        return self.result


def test_a_failed_cache_only_load_goes_to_the_hub_when_it_answers(
    hub_cache, gpt2_tokenizer, tmp_path, monkeypatch
):
    cache_model(hub_cache, "owner/tiny", build_offline_model(seed=4), gpt2_tokenizer, tmp_path)
    loader = FlakyCacheLoader(build_offline_model(seed=6))
    monkeypatch.setattr(modeling, "AutoModelForCausalLM", loader)
    monkeypatch.setattr(modeling, "is_online", lambda: True)
    model = load_model("owner/tiny", device="cpu")
    assert loader.calls == [("owner/tiny", True), ("owner/tiny", False)]
    assert model is loader.result

    monkeypatch.setattr(modeling, "is_online", lambda: False)  # no Hub: a clear error
    with pytest.raises(ModelNotAvailableError, match="Could not load the model 'owner/tiny'"):
        load_model("owner/tiny", device="cpu")


def test_a_failed_cache_only_tokenizer_load_goes_to_the_hub(hub_cache, monkeypatch):
    cache_files(hub_cache, "gpt2", {"config.json": CONFIG, "tokenizer.json": "{}"})
    loader = FlakyCacheLoader(gpt2_tokenizer_from_package())
    monkeypatch.setattr(modeling, "AutoTokenizer", loader)
    monkeypatch.setattr(model_source, "is_online", lambda: True)  # locate_model: the Hub
    monkeypatch.setattr(modeling, "is_online", lambda: True)  # the load: the Hub answers
    assert load_tokenizer("gpt2") is loader.result
    assert loader.calls == [("gpt2", True), ("gpt2", False)]
