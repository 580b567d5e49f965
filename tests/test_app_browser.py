"""End to end: the app served on loopback, driven in a real headless Chromium."""

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

CHROMIUM_PATHS = ("/usr/bin/chromium", "/usr/lib/chromium/chromium", "/usr/bin/chromium-browser")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip


def find_chromium() -> str | None:
    return next((p for p in CHROMIUM_PATHS if os.path.exists(p)), shutil.which("chromium"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def served_app(tmp_path_factory):
    """`python -m helpers app` on a free loopback port, stopped with SIGTERM afterwards."""
    folder = tmp_path_factory.mktemp("app")
    feedback = folder / "feedback.jsonl"
    port = free_port()
    env = dict(os.environ, HF_HUB_OFFLINE="1", GRADIO_ANALYTICS_ENABLED="False",
               NO_PROXY="127.0.0.1,localhost")  # fmt: skip
    command = [
        sys.executable, "-m", "helpers", "app", "--model", "gpt2lab-tiny",
        "--port", str(port), "--feedback-file", str(feedback),
    ]  # fmt: skip
    log = open(folder / "server.log", "w")
    server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"the app exited early:\n{(folder / 'server.log').read_text()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.3)
    else:
        server.terminate()
        pytest.fail(f"the app did not start:\n{(folder / 'server.log').read_text()}")
    yield f"http://127.0.0.1:{port}/", feedback, folder
    server.terminate()
    try:
        server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.kill()
    log.close()


def test_generate_and_rate_in_a_real_browser(chromium, served_app):
    from playwright.sync_api import sync_playwright

    url, feedback, folder = served_app
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1200, "height": 1100})
        page.goto(url, wait_until="load")
        page.wait_for_selector("#prompt textarea", timeout=60_000)
        assert "untrained" in page.inner_text("#model-label")
        page.fill("#prompt textarea", "To be, or not to be")
        page.click("#strategy input")  # the offline model's config says greedy: pick top-p
        page.get_by_role("option", name="top-p", exact=True).click()
        page.wait_for_function(  # choosing top-p switches its filter on (0.9)
            "() => document.querySelector('#top-p input[type=number]')?.value === '0.9'",
            polling=50, timeout=20_000,
        )  # fmt: skip
        page.fill("#n input[type=number]", "3")  # change a setting: three samples
        page.locator("#n input[type=number]").press("Tab")
        page.click("#generate")
        page.wait_for_function(
            "() => document.querySelector('#status')?.innerText.includes('Done')",
            polling=50, timeout=60_000,
        )  # fmt: skip
        texts = [page.input_value(f"#sample-{i} textarea") for i in (1, 2, 3)]
        assert all(text.strip() for text in texts), texts
        page.click("#up-2")
        page.wait_for_function(
            "() => document.querySelector('#status')?.innerText.includes('Saved')",
            polling=50, timeout=20_000,
        )  # fmt: skip
        page.screenshot(path=str(folder / "app.png"), full_page=True)
        browser.close()
    records = [json.loads(line) for line in feedback.read_text(encoding="utf-8").splitlines()]
    assert len(records) == 1
    assert records[0]["rating"] == 1 and records[0]["prompt"] == "To be, or not to be"
    assert records[0]["text"] == texts[1] and records[0]["settings"]["num_return_sequences"] == 3
    assert (folder / "app.png").stat().st_size > 10_000
    shots = os.environ.get("GPT2LAB_SCREENSHOT_DIR")
    if shots:  # GPT2LAB_SCREENSHOT_DIR=docs refreshes docs/app.png from this run (README)
        shutil.copy(folder / "app.png", Path(shots) / "app.png")
