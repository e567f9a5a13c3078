"""The Markdown plan as a pull-request comment shows it: rendered as GitHub-flavoured Markdown
(markdown-it-py: tables, raw `<details>`) and opened in headless Chromium.

The page is the whole-branch plan of tests/cli/test_plan.py (its golden file, which that test
keeps equal to what `dagspec plan --format markdown` prints). The screenshot, with one DAG
opened, is docs/images/plan-comment.png (rewritten only with DAGSPEC_UPDATE_SCREENSHOTS=1).
"""

from __future__ import annotations

import html
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from markdown_it import MarkdownIt

ROOT = Path(__file__).resolve().parents[2]
PLAN = ROOT / "tests" / "golden" / "plan" / "whole-branch.md"
SCREENSHOT = ROOT / "docs" / "images" / "plan-comment.png"
OPENED = "waste-tracking"  # the DAG whose details the screenshot shows
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync"]

# Close to GitHub's comment styles (primer): what makes tables, code and details read the same.
STYLE = """
body { margin: 0; padding: 24px; background: #f6f8fa; font: 14px/1.5 "DejaVu Sans", sans-serif;
       color: #1f2328; }
.comment { max-width: 880px; margin: auto; background: #fff; border: 1px solid #d1d9e0;
           border-radius: 6px; }
.comment > header { padding: 8px 16px; background: #f6f8fa; border-bottom: 1px solid #d1d9e0;
                    border-radius: 6px 6px 0 0; color: #59636e; }
.comment > header b { color: #1f2328; }
.body { padding: 16px; }
h3 { margin: 0 0 12px; font-size: 1.25em; }
p { margin: 0 0 12px; }
code { font: 85% "DejaVu Sans Mono", monospace; background: rgba(129,139,152,.12);
       padding: .2em .4em; border-radius: 6px; }
table { display: block; max-width: 100%; overflow: auto; border-collapse: collapse;
        margin: 0 0 12px; }
th, td { border: 1px solid #d1d9e0; padding: 6px 13px; text-align: left; vertical-align: top; }
th { font-weight: 600; }
tr:nth-child(2n) { background: #f6f8fa; }
ul { margin: 0 0 12px; padding-left: 2em; }
blockquote { margin: 0 0 12px; padding: 0 1em; color: #59636e; border-left: .25em solid #d1d9e0; }
details { margin: 0 0 8px; }
summary { cursor: pointer; }
details[open] > summary { margin-bottom: 8px; }
"""


def page_html(markdown: str) -> str:
    body = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>dagspec plan</title>"
        f"<style>{STYLE}</style></head><body><div class='comment'><header>"
        f"<b>github-actions</b> commented · {html.escape('posted by the specs workflow')}"
        f"</header><div class='body'>{body.render(markdown)}</div></div></body></html>"
    )


@pytest.fixture
def page(tmp_path: Path) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    executable = os.environ.get("DAGSPEC_CHROMIUM") or shutil.which("chromium")
    if not executable:
        pytest.fail("chromium not found; install the Debian package 'chromium'")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser.new_page(viewport={"width": 960, "height": 800})
        finally:
            browser.close()


def test_the_plan_renders_as_a_comment_with_collapsed_dags(page: Any, tmp_path: Path) -> None:
    markdown = PLAN.read_text(encoding="utf-8")
    dag_count = markdown.count("<details>")
    document = tmp_path / "plan.html"
    document.write_text(page_html(markdown), encoding="utf-8")
    page.goto(document.as_uri())

    # The summary line, the table of DAGs and the warnings are Markdown that rendered.
    assert page.locator("strong").first.inner_text().startswith("1 added, 3 changed, 1 renamed")
    summary_rows = page.locator(".body > table").first.locator("tbody tr")
    assert summary_rows.count() == dag_count == 5
    assert page.locator(".body > ul li").count() == 6  # one per warning

    # Every DAG is collapsed; opening one shows its tables and warnings.
    details = page.locator("details")
    assert details.count() == dag_count
    assert all(not details.nth(i).locator("table").first.is_visible() for i in range(dag_count))
    opened = page.locator("details", has=page.locator(f"summary >> text={OPENED}")).first
    opened.locator("summary").click()
    assert opened.locator("table").count() == 2 and opened.locator("table").first.is_visible()
    cells = opened.locator("table").first.inner_text()
    assert "schedule" in cells and '"0 6 * * *"' in cells
    assert opened.locator("blockquote").count() == 3

    # Nothing is wider than the comment (long values scroll inside their table, as on GitHub).
    overflow = page.evaluate(
        "() => document.documentElement.scrollWidth > document.documentElement.clientWidth"
    )
    assert not overflow

    shot = tmp_path / "plan-comment.png"
    page.locator(".comment").screenshot(path=str(shot))
    assert shot.stat().st_size > 20_000
    if os.environ.get("DAGSPEC_UPDATE_SCREENSHOTS") == "1":  # else the checked-in one stays
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, SCREENSHOT)
