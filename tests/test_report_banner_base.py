"""The report's banner for the offline base: a run that fine-tuned it is not GPT-2."""

from __future__ import annotations

from helpers.report.headline import banner, model_phrase

BASE_RUN = {
    "model": {"asked_for": "gpt2", "source": "base", "location": "gpt2lab-base",
              "offline_model": False, "parameters": 7242624, "layers": 4, "width": 128},
    "training": {"from_scratch": False},
}  # fmt: skip


def test_the_offline_base_gets_the_offline_warning_not_a_plain_model_note():
    html = banner(BASE_RUN)
    assert "Offline run: not GPT-2." in html and "offline base <code>gpt2lab-base</code>" in html
    assert "pretrained here, then fine-tuned" in html and "banner warn" in html
    assert model_phrase(BASE_RUN).startswith("the offline base <code>gpt2lab-base</code>")


def test_gpt2_from_the_hub_gets_no_offline_warning():
    hub = {"model": {"asked_for": "gpt2", "source": "hub", "location": "gpt2"}, "training": {}}
    assert "Offline run" not in banner(hub) and "GPT-2 <code>gpt2</code>" in banner(hub)
