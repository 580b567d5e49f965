import pytest
import torch
from transformers import GPT2LMHeadModel

from helpers import modeling
from helpers.modeling import (
    OFFLINE_MODEL_NAME,
    ModelNotAvailableError,
    OfflineModelConfig,
    build_offline_model,
    count_parameters,
    gpt2_tokenizer_from_package,
    load_model,
    load_model_and_tokenizer,
    load_tokenizer,
    locate_model,
    resolve_model_name,
    save_model,
)


@pytest.fixture
def empty_hub_cache(monkeypatch):
    """Behave as on a fresh machine whatever the local Hugging Face cache holds."""
    monkeypatch.setattr(modeling, "_in_hub_cache", lambda repo_id: False)


@pytest.fixture(scope="module")
def tokenizer():
    return gpt2_tokenizer_from_package()


def test_tokenizer_is_gpt2s_real_bpe(tokenizer):
    assert tokenizer("Hello world")["input_ids"] == [15496, 995]
    assert tokenizer.eos_token == "<|endoftext|>" and tokenizer.eos_token_id == 50256
    assert len(tokenizer) == 50257
    assert tokenizer("<|endoftext|>")["input_ids"] == [50256]
    assert tokenizer.pad_token == tokenizer.eos_token
    text = "Byte-level BPE round-trips anything: naïve café, 日本語, 😀"
    assert tokenizer.decode(tokenizer(text)["input_ids"]) == text


def test_offline_tokenizer_knows_the_offline_context(empty_hub_cache):
    tokenizer = load_tokenizer("gpt2")
    assert tokenizer.model_max_length == OfflineModelConfig().n_positions
    assert tokenizer("Hello world")["input_ids"] == [15496, 995]


def test_name_resolution_order(monkeypatch):
    assert resolve_model_name() == "gpt2"
    monkeypatch.setenv("GPT2LAB_MODEL", "distilgpt2")
    assert resolve_model_name() == "distilgpt2"
    assert resolve_model_name("gpt2-medium") == "gpt2-medium"


def test_offline_fallback_never_touches_the_network(empty_hub_cache, no_network):
    source = locate_model("gpt2")
    assert source.kind == "offline" and source.is_fallback
    assert "HF_HUB_OFFLINE=1" in source.reason
    assert no_network == []


def test_fallback_can_be_made_an_error(empty_hub_cache, no_network):
    with pytest.raises(ModelNotAvailableError, match="Cannot load 'gpt2'.*HF_HUB_OFFLINE"):
        load_model("gpt2", allow_offline_fallback=False)


def test_offline_model_loads_with_a_banner(empty_hub_cache, capsys, caplog):
    model, tokenizer = load_model_and_tokenizer(device="cpu")
    banner = capsys.readouterr().err
    assert "Asked for : gpt2" in banner and "gpt2lab-tiny" in banner
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


def test_offline_model_selected_by_name_is_not_a_fallback(no_network):
    source = locate_model(OFFLINE_MODEL_NAME)
    assert source.is_offline_model and not source.is_fallback


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


def test_save_and_load_round_trip(tmp_path, tokenizer, capsys):
    model = build_offline_model(seed=3).eval()
    target = save_model(model, tokenizer, tmp_path / "model")
    save_model(model, tokenizer, tmp_path / "model")  # overwriting works too
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]  # no staging leftovers
    assert (target / "model.safetensors").is_file() and (target / "tokenizer.json").is_file()
    capsys.readouterr()

    loaded, loaded_tokenizer = load_model_and_tokenizer(target, device="cpu")
    assert "offline model" not in capsys.readouterr().err  # a real folder: no banner
    assert locate_model(target).kind == "local"
    ids = tokenizer("Good morrow, cousin", return_tensors="pt")["input_ids"]
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


def test_trained_model_is_found_only_when_saved(tmp_path, monkeypatch, tokenizer):
    monkeypatch.setenv("GPT2LAB_TRAINED_MODEL", str(tmp_path / "finetuned"))
    assert modeling.trained_model_dir() == tmp_path / "finetuned"
    assert modeling.find_trained_model() is None
    save_model(build_offline_model(), tokenizer, tmp_path / "finetuned")
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


def test_broken_folders_get_clear_errors(tmp_path, tokenizer):
    save_model(build_offline_model(), tokenizer, tmp_path / "no_weights")
    (tmp_path / "no_weights" / "model.safetensors").unlink()
    with pytest.raises(ModelNotAvailableError, match="Could not load the model .*no_weights"):
        load_model(tmp_path / "no_weights")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "config.json").write_text("{not json")
    with pytest.raises(ModelNotAvailableError, match="config.json in .*bad' cannot be read"):
        load_model(tmp_path / "bad")


def test_course_model_prefers_argument_then_env_then_trained_then_default(
    tmp_path, monkeypatch, tokenizer
):
    monkeypatch.setenv("GPT2LAB_TRAINED_MODEL", str(tmp_path / "finetuned"))
    assert modeling.course_model_choice()[0] is None
    assert "No fine-tuned model" in modeling.course_model_choice()[1]
    save_model(build_offline_model(), tokenizer, tmp_path / "finetuned")
    assert modeling.course_model_choice() == (
        str(tmp_path / "finetuned"),
        f"Using the fine-tuned model saved in {tmp_path / 'finetuned'}.",
    )
    monkeypatch.setenv("GPT2LAB_MODEL", OFFLINE_MODEL_NAME)
    assert modeling.course_model_choice()[0] == OFFLINE_MODEL_NAME
    assert modeling.course_model_choice("distilgpt2")[0] == "distilgpt2"


def test_load_course_model_uses_the_trained_model(tmp_path, monkeypatch, tokenizer, capsys):
    monkeypatch.setenv("GPT2LAB_TRAINED_MODEL", str(tmp_path / "finetuned"))
    save_model(build_offline_model(seed=5), tokenizer, tmp_path / "finetuned")
    model, _, source = modeling.load_course_model(device="cpu")
    assert source.kind == "local" and "fine-tuned model saved" in capsys.readouterr().out
    expected = build_offline_model(seed=5).state_dict()["transformer.wte.weight"]
    assert torch.equal(model.state_dict()["transformer.wte.weight"], expected)
