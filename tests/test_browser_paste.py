"""In a real browser: a 600-word paste is predicted as one sentence (the model's sliding windows, said on
the page), drawn wrapped to its column at 1500 px without clipping or a scrollbar of its own."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import studio_helpers as helpers
from test_browser import CHROMIUM, FLAGS, SLOW, need_browser, snap, streamlit_server

pytestmark = pytest.mark.browser

# 601 tokens, one sentence: the paste that used to become "3 sentences".
LONG = " ".join(f"method{i} improves task{i}" if i % 2 else f"and{i}" for i in range(300)) + " ."


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, tiny_encoder_dir: Path) -> Iterator[str]:
    """The app over two tiny checkpoints whose encoder takes 128 positions (the paste needs windows)."""
    need_browser()
    base = tmp_path_factory.mktemp("browser-paste")
    env = dict(
        os.environ,
        ENPAR_RUNS=str(helpers.make_runs_folder(base / "runs", encoder=tiny_encoder_dir, outside_bias=5.0)),
        ENPAR_DATA=str(base / "no-data"),
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
    )
    with streamlit_server(env, log_name="server-paste.log") as url:
        yield url


def test_a_600_token_paste_is_predicted_as_one_sentence(server: str) -> None:
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        page = browser.new_page(viewport={"width": 1500, "height": 1100})
        try:
            page.goto(server)
            box = page.get_by_label("Sentences")
            box.wait_for(timeout=SLOW)
            box.fill(LONG)
            page.get_by_role("button", name="Compare", exact=True).click()
            expect(page.locator("svg.enpar-sent")).to_have_count(2, timeout=SLOW)  # 1 sentence x A and B
            expect(page.get_by_text("1 sentence (split by spaCy)").first).to_be_visible(timeout=SLOW)
            expect(page.get_by_text("overlapping windows").first).to_be_visible(timeout=SLOW)
            svg = page.locator("svg.enpar-sent").first
            # every word is drawn, the last one too; the drawing fits its column (no clip, no scrollbar)
            assert svg.locator("text", has_text="task299").count() == 1
            box_svg, box_parent = svg.bounding_box(), svg.locator("xpath=..").bounding_box()
            assert box_svg and box_parent and box_svg["width"] <= box_parent["width"] + 1
            assert box_svg["height"] > 300  # wrapped onto many lines
            snap(page, "compare-long-paste")
        finally:
            browser.close()
