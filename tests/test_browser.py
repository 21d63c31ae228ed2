"""End to end in a real browser: `streamlit run` on a free port, Debian chromium driven by playwright.

Skips cleanly where chromium or playwright is missing (`.ci/run` installs chromium). Screenshots of every
page land in test-output/browser/ (git-ignored).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import studio_helpers as helpers

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
OUTPUT = ROOT / "test-output" / "browser"
CHROMIUM = shutil.which("chromium")
FLAGS = [  # ../shared/docs/offline-stack.md section 6; no network, no first-run UI
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
XSS = ("<script>alert(1)</script>", "<img src=x onerror=alert(1)>")
SLOW = 120_000  # ms: first predictions load models; evaluation runs start Python processes


def snap(page: object, name: str) -> None:
    """Screenshot of the whole page: Streamlit scrolls inside its main section, not the document, so the
    viewport is stretched to the tallest scrolling element first."""
    size = page.viewport_size  # type: ignore[attr-defined]
    height = page.evaluate(  # type: ignore[attr-defined]
        "(document.querySelector('[data-testid=stMain]') || document.body).scrollHeight + 40"
    )
    page.set_viewport_size({"width": size["width"], "height": min(int(height) + 40, 8000)})  # type: ignore[attr-defined]
    page.wait_for_timeout(800)  # type: ignore[attr-defined]
    page.screenshot(path=str(OUTPUT / f"{name}.png"))  # type: ignore[attr-defined]
    page.set_viewport_size(size)  # type: ignore[attr-defined]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_healthy(url: str, proc: subprocess.Popen[bytes], timeout: float = 90) -> None:
    end = time.time() + timeout
    while time.time() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited with {proc.returncode}; see {OUTPUT / 'server.log'}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as resp:
                if resp.read().strip() == b"ok":
                    return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"streamlit not healthy after {timeout} s")


@contextlib.contextmanager
def streamlit_server(env: dict[str, str], log_name: str = "server.log") -> Iterator[str]:
    """`streamlit run streamlit_app.py` on a free local port with this environment; yields its URL."""
    OUTPUT.mkdir(parents=True, exist_ok=True)
    port = free_port()
    cmd = [sys.executable, "-m", "streamlit", "run", "streamlit_app.py", "--server.headless", "true",
           "--server.address", "127.0.0.1", "--server.port", str(port), "--browser.gatherUsageStats", "false",
           "--server.fileWatcherType", "none"]  # fmt: skip
    with (OUTPUT / log_name).open("wb") as log:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        try:
            wait_healthy(url, proc)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()


def need_browser() -> None:
    if CHROMIUM is None:
        pytest.skip("Debian chromium is not installed (apt-get install chromium)")
    pytest.importorskip("playwright.sync_api")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, tiny_encoder_dir: Path) -> Iterator[str]:
    """The app on a free local port, over two test checkpoints and a small gold split."""
    need_browser()
    base = tmp_path_factory.mktemp("browser")
    env = dict(
        os.environ,
        ENPAR_RUNS=str(helpers.make_runs_folder(base / "runs", encoder=tiny_encoder_dir)),
        ENPAR_DATA=str(helpers.write_split(base / "data")),
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
    )
    with streamlit_server(env) as url:
        yield url


def test_compare_escape_switch_pages_and_run_an_evaluation(server: str) -> None:
    from playwright.sync_api import expect, sync_playwright

    dialogs: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        page = browser.new_page(viewport={"width": 1500, "height": 1100})
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        try:
            page.goto(server)
            # Compare: paste, see both checkpoints' predictions
            box = page.get_by_label("Sentences")
            box.wait_for(timeout=SLOW)
            box.fill(f"We evaluate {XSS[0]} on SciERC.\nThen {XSS[1]} joins Zoë in Zürich 李雷.")
            page.get_by_role("button", name="Compare", exact=True).click()
            expect(page.get_by_text("A: bert-baseline/best (BERT baseline)").first).to_be_visible(
                timeout=SLOW
            )
            expect(page.get_by_text("B: enpar/best (ENPAR)").first).to_be_visible()
            expect(page.locator("svg.enpar-sent")).to_have_count(4, timeout=SLOW)  # 2 sentences x 2 systems
            assert page.locator("svg.enpar-sent g.arc").count() > 0
            # the XSS strings are text: no script element or image from them, no dialog
            assert page.locator("svg.enpar-sent text", has_text="alert(1)</script").count() >= 1
            assert page.locator("svg.enpar-sent text", has_text="onerror").count() >= 1
            assert page.locator("script", has_text="alert(1)").count() == 0
            assert page.locator("img[src='x']").count() == 0
            snap(page, "compare")
            # a dataset sentence brings its gold: correct / spurious / missed marks
            page.get_by_text("Dataset sentence", exact=True).click()
            expect(page.get_by_text("Gold", exact=True).first).to_be_visible(timeout=SLOW)
            expect(page.get_by_text("relations correct")).to_be_visible(timeout=SLOW)
            snap(page, "compare-gold")

            # switch pages: Breakdown has nothing to score yet
            page.get_by_test_id("stSidebarNavItems").get_by_role("link", name="Breakdown").click()
            expect(page.get_by_text("No finished evaluation")).to_be_visible(timeout=SLOW)

            # start an evaluation of A and B from the sidebar, follow it on Runs until scores show
            page.get_by_role("button", name="Start evaluation").click()
            expect(page.get_by_text("Started runs")).to_be_visible(timeout=SLOW)
            page.get_by_test_id("stSidebarNavItems").get_by_role("link", name="Runs").click()
            expect(page.get_by_text("Evaluation runs")).to_be_visible(timeout=SLOW)
            # a finished run shows its scores as metrics (the table is a canvas grid)
            # (the button shows as soon as a run is listed; its scores only once it has finished)
            expect(page.get_by_role("button", name="Open in Breakdown")).to_be_visible(timeout=2 * SLOW)
            metrics = page.get_by_test_id("stMetric")
            expect(metrics.filter(has_text="Relation (exactly) F1")).to_be_visible(timeout=2 * SLOW)
            expect(metrics.filter(has_text="Entity F1")).to_be_visible()
            snap(page, "runs")

            # the scores of A vs B on Breakdown, then the disagreements on Examples
            page.get_by_test_id("stSidebarNavItems").get_by_role("link", name="Breakdown").click()
            expect(page.get_by_text("Paired test", exact=False).first).to_be_visible(timeout=SLOW)
            expect(page.locator(".js-plotly-plot").first).to_be_visible(timeout=SLOW)
            page.wait_for_timeout(1500)  # let the charts finish drawing before the screenshot
            snap(page, "breakdown")
            page.get_by_test_id("stSidebarNavItems").get_by_role("link", name="Examples").click()
            expect(page.get_by_text("disagreements, in")).to_be_visible(timeout=SLOW)
            expect(page.locator(".enpar-row").first).to_be_visible(timeout=SLOW)
            snap(page, "examples")
        finally:
            browser.close()
    assert dialogs == []
    for name in ("compare", "compare-gold", "runs", "breakdown", "examples"):
        assert (OUTPUT / f"{name}.png").stat().st_size > 10_000
