"""The episode explorer in a real JupyterLab and a real browser: the slider moves what it shows.

Run it by hand::

    .venv/bin/python tests/browser/check_explorer.py /tmp/explorer-shots            # ~1 minute
    .venv/bin/python tests/browser/check_explorer.py /tmp/explorer-shots --lab 03   # a lab

It starts JupyterLab on 127.0.0.1 (a free port, token off) in a temporary folder, opens a notebook
there in Chromium with Playwright and runs all cells. Without ``--lab`` the notebook is a small
one that trains nothing (a tiny seeded network plays one CartPole episode, then ``explore``).
With ``--lab NN`` it is a copy of ``solutions/NN_*.ipynb`` at its CI size (the values of
``tests/ci_parameters.py`` appended to its ``parameters`` cell, ``OUT_DIR`` in the temporary
folder): labs 02, 03, 04 and 06 have explorers, and each takes a few minutes (lab 02 at full
size, as in CI). The kernel imports ``dqn_helpers`` from this checkout.

For every explorer in the notebook it asserts that JupyterLab drew the widget (not the static
PNG that rides in the same output for front ends without widgets, and not both), that it starts
at step 0, that moving the slider with the keyboard changes the step, the numbers and the frame,
and that Play moves it on; it saves a screenshot of the explorer at each stage, and of the whole
page, to the folder given, and fails on an error in any cell. It stops the server and the
kernels it started, by their process ids. Under pytest the small notebook runs, and only where
``/usr/bin/chromium`` and playwright are installed (it never runs ``playwright install``).
"""

from __future__ import annotations

import argparse
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


def write_lab(lab: str, root_dir: Path) -> Path:
    """A copy of lab ``lab``'s solution at its CI size, writing its outputs under ``root_dir``."""
    import nbformat

    sys.path.insert(0, str(ROOT / "tests"))
    from ci_parameters import CI_PARAMETERS, inject_parameters

    (source,) = sorted((ROOT / "solutions").glob(f"{lab}_*.ipynb"))
    nb = nbformat.read(source, as_version=4)
    values = {**CI_PARAMETERS.get(lab, {}), "OUT_DIR": str(root_dir / "runs")}
    inject_parameters(nb, values, source.name)
    path = root_dir / source.name
    nbformat.write(nb, path)
    return path


def explore_cells(path: Path) -> int:
    """How many code cells of the notebook call ``explore(``: the explorers to find."""
    cells = json.loads(path.read_text())["cells"]
    return sum(bool(re.search(r"\bexplore\(", "".join(c["source"])))
               for c in cells if c["cell_type"] == "code")


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


STEP = re.compile(r"step (\d+) of (\d+)")
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def open_and_run(page, port: int, name: str, timeout_s: float) -> None:
    """Open notebook ``name``, Run All Cells, and wait until no cell is running or queued."""
    page.goto(f"http://127.0.0.1:{port}/lab/tree/{name}")
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
    busy = ("() => [...document.querySelectorAll('.jp-InputArea-prompt')]"
            ".some(e => e.innerText.includes('*'))")
    deadline, quiet = time.time() + timeout_s, 0
    time.sleep(2)
    while quiet < 3:  # three idle seconds in a row: every cell has run
        if time.time() > deadline:
            raise TimeoutError(f"{name}: cells still running after {timeout_s:.0f} s")
        quiet = 0 if page.evaluate(busy) else quiet + 1
        time.sleep(1)


def cell_errors(page) -> list[str]:
    """The tracebacks shown in the notebook (warnings on stderr are not errors)."""
    texts = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")\
        .all_inner_texts()
    return [t[-500:] for t in texts
            if "Traceback" in t or re.search(r"^\w*(Error|Exception)\b", t, re.MULTILINE)]


def check_one(page, box, shots: Path, stem: str) -> dict:
    """Drive one explorer: its step, numbers and frame must follow the slider and Play."""
    box.scroll_into_view_if_needed()
    # the cell's output is the widget, drawn once: not the fallback PNG beside or instead of it
    drawn = box.evaluate("""b => { const o = b.closest('.jp-OutputArea-output');
        return [o === b.parentElement, o.children.length,
                o.closest('.jp-OutputArea').querySelectorAll('.jp-RenderedImage').length]; }""")
    # the box is its output's one child, and no picture is rendered in the cell's outputs
    assert drawn == [True, 1, 0], f"not the widget alone (its own, children, pictures): {drawn}"
    panel = box.locator(".widget-html-content", has_text=STEP).first

    def seen():
        return panel.inner_text(), box.locator("img").first.get_attribute("src")

    box.screenshot(path=str(shots / f"{stem}_1_start.png"))
    start = seen()
    first = STEP.search(start[0])
    assert first and first[1] == "0", start[0]
    k = min(10, int(first[2]) - 1)  # short of the first record's end, so Play can move on
    box.locator(".noUi-handle").first.focus()
    for _ in range(k):
        box.page.keyboard.press("ArrowRight")
    box.page.wait_for_function(
        "([e, k]) => e.innerText.includes(`step ${k} of`)",
        arg=[panel.element_handle(), k], timeout=20_000)
    time.sleep(0.5)
    box.screenshot(path=str(shots / f"{stem}_2_step{k}.png"))
    moved = seen()
    assert moved[1] != start[1], "the frame did not change"
    assert moved[0] != start[0], "the numbers did not change"
    before = box.locator(".widget-readout").first.inner_text()  # the slider's own number
    box.locator(".widget-play button").first.click()  # Play
    time.sleep(1.5)
    box.screenshot(path=str(shots / f"{stem}_3_playing.png"))
    playing = box.locator(".widget-readout").first.inner_text(), box.inner_text()
    # the step moved (a shorter first record may hold its last step: read the slider)
    assert playing[0] != before, f"Play did not move the step from {before}"
    box.locator(".widget-play button").first.click()  # Pause (the same button): keep still
    return {"start": start[0], f"step{k}": moved[0], f"playing (step {playing[0]})": playing[1]}


def run_check(shots: Path, lab: str | None = None, timeout_s: float = 900) -> dict:
    """Run the small notebook (or lab ``lab``'s) in JupyterLab; drive each explorer in it."""
    from playwright.sync_api import sync_playwright

    shots.mkdir(parents=True, exist_ok=True)
    seen = {}
    with tempfile.TemporaryDirectory() as tmp:
        root_dir = Path(tmp)
        if lab is None:
            path = root_dir / "explorer_check.ipynb"
            write_notebook(path)
        else:
            path = write_lab(lab, root_dir)
        expected = explore_cells(path)
        port = free_port()
        server = start_lab(root_dir, port)
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
                page = browser.new_page(viewport={"width": 1300, "height": 1000})
                open_and_run(page, port, path.name, timeout_s)
                page.screenshot(path=str(shots / f"{path.stem}_0_end.png"))
                errors = cell_errors(page)
                assert not errors, f"{path.name}: errors in cells: {errors}"
                boxes = page.locator(".widget-vbox", has=page.locator(".widget-play")).all()
                assert len(boxes) == expected, f"{len(boxes)} explorers drawn, {expected} expected"
                for i, box in enumerate(boxes):
                    for stage, text in check_one(page, box, shots,
                                                 f"{path.stem}_explorer{i}").items():
                        seen[f"explorer {i}, {stage}"] = text
                browser.close()
        finally:
            stop_lab(server, port)
    return seen


def available() -> bool:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return False
    return Path(CHROMIUM).exists()


@pytest.mark.skipif(not available(), reason="needs /usr/bin/chromium and playwright")
def test_explorer_in_jupyterlab(tmp_path):
    seen = run_check(tmp_path / "screenshots")
    assert any(re.search(r"step 10 of", text) for text in seen.values())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("shots", type=Path, help="folder for the screenshots")
    parser.add_argument("--lab", help="a lab's number (02, 03, 04, 06): run its solution")
    parser.add_argument("--timeout", type=float, default=900, help="seconds for Run All Cells")
    args = parser.parse_args(argv)
    for name, text in run_check(args.shots, args.lab, args.timeout).items():
        print(f"{name}: {' '.join(text.split())[:200]}")
    print(f"screenshots in {args.shots}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
