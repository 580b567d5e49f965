"""GPT-2 Lab helpers: the mechanics behind the course notebooks.

Each module has one concern (the README's "Layout" lists them): ``environment`` (device, seeds,
modes), ``modeling`` (model and tokenizer loading), ``notebooks`` (the notebook harness),
``cli`` (``python -m helpers``). Import the module you need, e.g.
``from helpers.modeling import load_model_and_tokenizer``.
"""

__version__ = "0.1.0"
