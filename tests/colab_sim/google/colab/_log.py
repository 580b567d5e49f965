"""Append one event of the simulated Colab to the JSONL file in ``$COLAB_SIM_LOG``."""

import json
import os


def record(event: str, **details) -> None:
    path = os.environ.get("COLAB_SIM_LOG")
    if path:
        with open(path, "a", encoding="utf-8") as log:
            log.write(json.dumps({"event": event, **details}) + "\n")
