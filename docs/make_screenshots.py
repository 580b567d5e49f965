"""Refresh the README's two screenshots: the run report's first screen and the app.

    .venv/bin/python docs/make_screenshots.py [--run runs/latest] [--model models/finetuned]

``docs/report.png``: the report of a run (rebuilt from its ``summary`` first, so the page
is current), from its top to the bottom of the training figure, 1280 px wide.
``docs/app.png``: the app serving a *trained* model (the folder notebook 03 or
``python -m helpers train`` saved), after sampling two continuations of a prompt of the
corpus with top-p 0.9 and seed 0. It refuses a model that is not a trained folder: the
README must not show an untrained model's noise. Needs Chromium (``apt-get install -y chromium``).
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM_PATHS = ("/usr/bin/chromium", "/usr/lib/chromium/chromium", "/usr/bin/chromium-browser")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PROMPT = "KING.\nWhat news from the north, my lord?\n"


def chromium() -> str:
    found = next((p for p in CHROMIUM_PATHS if os.path.exists(p)), None)
    if found is None:
        sys.exit("No Chromium found: install it with `sudo apt-get install -y chromium`.")
    return found


def report_screenshot(browser, run: Path, target: Path) -> None:
    """The report's first screen: the headline and the training figure."""
    from helpers.report import build_report

    if not (run / "figures").is_dir():
        sys.exit(f"{run} holds no recorded figures: run `make run` first (or pass --run).")
    index, _ = build_report(run)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(index.as_uri(), wait_until="load")
    bottom = page.evaluate(
        "() => { const f = document.querySelector('#training ~ figure');"
        " return f ? f.getBoundingClientRect().bottom + window.scrollY + 16 : 900; }"
    )
    page.screenshot(
        path=str(target), full_page=True, clip={"x": 0, "y": 0, "width": 1280, "height": bottom}
    )
    page.close()
    print(f"wrote {target} (report of {run}, {bottom:.0f} px high)")


def trained_model(folder: Path) -> Path:
    """The model folder, checked to be a trained model (weights and a training history)."""
    if not (folder / "config.json").exists():
        sys.exit(
            f"{folder} is not a saved model: train one with notebook 03 or "
            "`python -m helpers train --max-seconds 300`, or pass --model."
        )
    if not (folder / "history.json").exists():
        sys.exit(f"{folder} has no history.json: is it a model this course trained?")
    return folder


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def app_screenshot(browser, model: Path, target: Path) -> None:
    """The app serving ``model``, two samples generated from a prompt of the corpus."""
    port = free_port()
    env = dict(
        os.environ,
        HF_HUB_OFFLINE="1",
        GRADIO_ANALYTICS_ENABLED="False",
        NO_PROXY="127.0.0.1,localhost",
    )
    with tempfile.TemporaryDirectory() as scratch:
        log_path = Path(scratch) / "app.log"
        command = [
            sys.executable,
            "-m",
            "helpers",
            "app",
            "--model",
            str(model),
            "--port",
            str(port),
            "--feedback-file",
            str(Path(scratch) / "feedback.jsonl"),
        ]
        with open(log_path, "w") as log:
            server = subprocess.Popen(
                command, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT
            )
            try:
                _wait_for(server, port, log_path)
                page = browser.new_page(viewport={"width": 1200, "height": 1000})
                page.goto(f"http://127.0.0.1:{port}/", wait_until="load")
                page.wait_for_selector("#prompt textarea", timeout=60_000)
                label = page.inner_text("#model-label")
                if "untrained" in label.lower():
                    sys.exit(
                        f"the app serves an untrained model ({label!r}): pass a trained --model"
                    )
                page.fill("#prompt textarea", PROMPT)
                page.click("#strategy input")  # sampling shows two different samples
                page.get_by_role("option", name="top-p", exact=True).click()
                # the model's saved settings (notebook 06) may differ: set top-p 0.9 itself
                page.wait_for_selector("#top-p input[type=number]", timeout=20_000)
                page.fill("#top-p input[type=number]", "0.9")
                page.locator("#top-p input[type=number]").press("Tab")
                page.fill("#n input[type=number]", "2")
                page.locator("#n input[type=number]").press("Tab")
                page.fill("#seed input[type=number]", "0")
                page.locator("#seed input[type=number]").press("Tab")
                page.click("#generate")
                page.wait_for_function(
                    "() => document.querySelector('#status')?.innerText.includes('Done')",
                    polling=100,
                    timeout=120_000,
                )
                page.screenshot(path=str(target), full_page=True)
                print(f"wrote {target} (the app serving {model}: {label})")
            finally:
                server.terminate()
                try:
                    server.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    server.kill()


def _wait_for(server: subprocess.Popen, port: int, log_path: Path) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if server.poll() is not None:
            sys.exit(f"the app exited early:\n{log_path.read_text()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.3)
    sys.exit(f"the app did not start in 120 s:\n{log_path.read_text()}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", default=str(ROOT / "runs" / "latest"), help="the run folder")
    parser.add_argument(
        "--model",
        default=str(ROOT / "models" / "finetuned"),
        help="a trained model folder for the app",
    )
    parser.add_argument("--out", default=str(ROOT / "docs"), help="where the PNGs go")
    parser.add_argument("--only", choices=["report", "app"], help="refresh one screenshot")
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS)
        try:
            if args.only in (None, "report"):
                report_screenshot(browser, Path(args.run).resolve(), out / "report.png")
            if args.only in (None, "app"):
                app_screenshot(browser, trained_model(Path(args.model)), out / "app.png")
        finally:
            browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
