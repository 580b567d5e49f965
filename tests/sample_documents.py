"""Small synthetic documents for the data and packing tests: every word is unique to its
document, so a test can tell which document a block or a split came from."""

from pathlib import Path

from datasets import Dataset

FIXTURES = Path(__file__).parent / "fixtures"


def documents(n: int, words: int = 40) -> Dataset:
    """``n`` documents of ``words`` words each, with a ``source`` column (d0, d1, ...)."""
    texts = [" ".join(f"doc{i}word{j}" for j in range(words)) for i in range(n)]
    return Dataset.from_dict({"text": texts, "source": [f"d{i}" for i in range(n)]})
