"""The analysis pages in a real browser, on a fresh server with no checkpoint at all: a direct /breakdown
URL shows the app's navigation and the committed BERT vs ENPAR comparison, a bar click opens its
sentences, and two uploaded prediction files are compared.

Skips cleanly where chromium, playwright or the shared SciERC data is missing. Screenshots land in
test-output/browser/ (git-ignored).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_browser import CHROMIUM, FLAGS, OUTPUT, ROOT, need_browser, snap, streamlit_server

pytestmark = pytest.mark.browser
SLOW = 120_000  # ms
NAV = ("Compare", "Breakdown", "Examples", "Runs")


@pytest.fixture(scope="module")
def bare_server(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Iterator[str]:
    """The app with an empty runs folder (a fresh clone), over the shared data."""
    need_browser()
    runs_dir = tmp_path_factory.mktemp("bare") / "runs"
    env = dict(os.environ, ENPAR_RUNS=str(runs_dir), ENPAR_DATA=str(shared_data), HF_HUB_OFFLINE="1")
    with streamlit_server(env, "server-bare.log") as url:
        yield url


def test_direct_breakdown_url_bar_click_then_two_uploaded_files(bare_server: str, tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        page = browser.new_page(viewport={"width": 1500, "height": 1100})
        try:
            # The first request of a fresh server is /breakdown: the app's own navigation, not a file list.
            page.goto(f"{bare_server}/breakdown")
            nav = page.get_by_test_id("stSidebarNavItems")
            expect(nav).to_be_visible(timeout=SLOW)
            for name in NAV:
                expect(nav.get_by_role("link", name=name)).to_be_visible()
            expect(page.get_by_text("Unequal fine-tuning budgets: 30 vs 15 epochs")).to_be_visible(
                timeout=SLOW
            )
            expect(page.locator(".js-plotly-plot").first).to_be_visible(timeout=SLOW)
            page.wait_for_timeout(1500)
            snap(page, "first-start-breakdown")

            # A click on a bar of the first breakdown chart lists the sentences behind that bucket.
            chart = page.locator(".js-plotly-plot").first
            chart.scroll_into_view_if_needed()
            bars = chart.locator("g.point path")
            boxes = [bars.nth(i).bounding_box() for i in range(bars.count())]
            tallest = max((b for b in boxes if b), key=lambda b: b["height"])  # not an empty bucket
            page.mouse.click(tallest["x"] + tallest["width"] / 2, tallest["y"] + tallest["height"] / 2)
            expect(page.get_by_text("Sentences behind the selection")).to_be_visible(timeout=SLOW)
            expect(page.locator(".enpar-row").first).to_be_visible(timeout=SLOW)
            snap(page, "breakdown-drilldown")

            # Files: gold from the data folder, two prediction files uploaded and compared.
            preds = {
                "bert.jsonl": ROOT / "results/scierc-baseline-bs8-30ep/seed5216/predictions.jsonl",
                "enpar.jsonl": ROOT / "results/scierc-enpar400-bs8/seed5216/predictions.jsonl",
            }
            page.get_by_text("Files", exact=True).click()
            uploads = page.locator("input[type=file]")
            expect(uploads.first).to_be_attached(timeout=SLOW)

            def payload(name: str) -> dict[str, object]:
                return {"name": name, "mimeType": "application/json", "buffer": preds[name].read_bytes()}

            uploads.nth(0).set_input_files(payload("bert.jsonl"))  # type: ignore[arg-type]
            expect(page.get_by_text("bert.jsonl").first).to_be_visible(timeout=SLOW)
            page.locator("input[type=file]").last.set_input_files(payload("enpar.jsonl"))  # type: ignore[arg-type]
            expect(page.get_by_text("bert vs enpar").first).to_be_visible(timeout=SLOW)
            expect(page.get_by_text("Paired test")).to_be_visible(timeout=SLOW)
            page.wait_for_timeout(1500)
            snap(page, "files-breakdown")
        finally:
            browser.close()
    for name in ("first-start-breakdown", "breakdown-drilldown", "files-breakdown"):
        assert (OUTPUT / f"{name}.png").stat().st_size > 10_000
