"""The episode explorer in a real JupyterLab and a real browser: the slider moves what it shows.

Run it by hand (it takes about a minute)::

    .venv/bin/python tests/browser/check_explorer.py /tmp/explorer-shots

It starts JupyterLab on 127.0.0.1 (token off) in a temporary folder holding a small notebook that
trains nothing (a tiny seeded network plays one CartPole episode, then ``explore``), opens it in
Chromium with Playwright, runs all cells, moves the slider and presses Play, asserts that the
step, the numbers and the frame on display change, and saves a screenshot at each stage to the
folder given. It stops the server and the kernels it started. Under pytest it is skipped unless
``/usr/bin/chromium`` and playwright are there (it never runs ``playwright install``).
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"

CELLS = [
    "import gymnasium as gym\nimport torch\n\n"
    "from dqn_helpers.explorer import explore, record_episode",
    "torch.manual_seed(0)\n"
    "net = torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.ReLU(), torch.nn.Linear(16, 2))\n"
    "env = gym.make('CartPole-v1', render_mode='rgb_array')\n"
    "record = record_episode(net, env, seed=0, epsilon=0.3, action_names=['left', 'right'])\n"
    "env.close()\nlen(record)",
    "explorer = explore(record, titles=['tiny untrained network'])",
]


def write_notebook(path: Path) -> None:
    cells = [{"cell_type": "code", "id": f"cell{i}", "metadata": {}, "execution_count": None,
              "outputs": [], "source": source} for i, source in enumerate(CELLS)]
    nb = {"cells": cells, "nbformat": 4, "nbformat_minor": 5,
          "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3 (ipykernel)",
                                      "language": "python"}}}
    path.write_text(json.dumps(nb, indent=1))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_lab(root_dir: Path, port: int) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
    env.pop("DQN_LABS_HEADLESS", None)
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", f"--port={port}",
         "--ip=127.0.0.1", f"--ServerApp.root_dir={root_dir}", "--IdentityProvider.token=",
         "--ServerApp.password=", "--ServerApp.disable_check_xsrf=True"],
        env=env, stdout=subprocess.DEVNULL, stderr=open(root_dir / "jupyter.log", "w"))
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status", timeout=2)
            return server
        except OSError:
            time.sleep(0.5)
    server.kill()
    raise RuntimeError("JupyterLab did not start: see jupyter.log")


def stop_lab(server: subprocess.Popen, port: int) -> None:
    """Stop the server and every process it started (its kernels), by their ids."""
    import psutil

    children = psutil.Process(server.pid).children(recursive=True)
    try:
        request = urllib.request.Request(f"http://127.0.0.1:{port}/api/shutdown", method="POST")
        urllib.request.urlopen(request, timeout=10)
        server.wait(timeout=20)
    except Exception:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
    for child in children:
        if child.is_running():
            child.kill()


def panel_text(page) -> str:
    """The text of the explorer's panel: the one that says 'step N of M'."""
    return page.locator(".widget-html-content", has_text="of").first.inner_text()


def frame_src(page) -> str:
    return page.locator(".jp-OutputArea img").first.get_attribute("src")


def run_check(shots: Path) -> dict:
    from playwright.sync_api import sync_playwright

    shots.mkdir(parents=True, exist_ok=True)
    seen = {}
    with tempfile.TemporaryDirectory() as tmp:
        root_dir = Path(tmp)
        write_notebook(root_dir / "explorer_check.ipynb")
        port = free_port()
        server = start_lab(root_dir, port)
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
                page = browser.new_page(viewport={"width": 1300, "height": 1000})
                page.goto(f"http://127.0.0.1:{port}/lab/tree/explorer_check.ipynb")
                page.locator(".jp-Notebook").wait_for(timeout=60_000)
                select = page.locator(".jp-Dialog button", has_text="Select")
                try:  # JupyterLab may ask which kernel to start
                    select.wait_for(timeout=5_000)
                    select.click()
                except Exception:
                    pass
                page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']",
                                       timeout=60_000, state="attached")
                page.locator(".lm-MenuBar-itemLabel", has_text=re.compile("^Run$")).click()
                page.locator(".lm-Menu-itemLabel", has_text=re.compile("^Run All Cells$")).click()
                slider = page.locator(".widget-slider").first
                try:
                    slider.wait_for(timeout=120_000)
                except Exception:
                    page.screenshot(path=str(shots / "0_no_slider.png"), full_page=True)
                    raise
                page.locator(".widget-html-content", has_text="of").first.wait_for()
                slider.scroll_into_view_if_needed()
                page.screenshot(path=str(shots / "1_step0.png"), full_page=True)
                seen["start"] = (panel_text(page), frame_src(page))
                assert "step 0 of" in seen["start"][0], seen["start"][0]

                handle = page.locator(".widget-slider .noUi-handle").first
                handle.focus()
                for _ in range(10):
                    page.keyboard.press("ArrowRight")
                page.wait_for_function(
                    "() => [...document.querySelectorAll('.widget-html-content')]"
                    ".some(e => e.innerText.includes('step 10 of'))", timeout=20_000)
                time.sleep(0.5)
                page.screenshot(path=str(shots / "2_step10.png"), full_page=True)
                seen["step10"] = (panel_text(page), frame_src(page))
                assert seen["step10"][1] != seen["start"][1], "the frame did not change"
                assert seen["step10"][0] != seen["start"][0]

                page.locator(".widget-play button, .jupyter-widgets.widget-play button")\
                    .first.click()  # Play
                time.sleep(1.5)
                page.screenshot(path=str(shots / "3_playing.png"), full_page=True)
                seen["playing"] = (panel_text(page), frame_src(page))
                assert seen["playing"][0] != seen["step10"][0], "Play did not move the step"
                browser.close()
        finally:
            stop_lab(server, port)
    return {name: text for name, (text, _) in seen.items()}


def available() -> bool:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return False
    return Path(CHROMIUM).exists()


@pytest.mark.skipif(not available(), reason="needs /usr/bin/chromium and playwright")
def test_explorer_in_jupyterlab(tmp_path):
    seen = run_check(tmp_path / "screenshots")
    assert "step 10 of" in seen["step10"]


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    for name, text in run_check(Path(sys.argv[1])).items():
        print(f"{name}: {' '.join(text.split())[:200]}")
    print(f"screenshots in {sys.argv[1]}")
