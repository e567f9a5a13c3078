"""Trigger the entity DAG from the Airflow UI's trigger form in headless Chromium.

Why: the params (title, description, enum) are what users see in the form; only a real browser
against a real api-server shows the generated DAG renders a usable form.
"""

from __future__ import annotations

import os
import re
import shutil
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from .conftest import ROOT, Api, Stack, chromium_path

pytestmark = pytest.mark.e2e

DAG_ID = "waste-tracking"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DOCS_SCREENSHOT = ROOT / "docs" / "images" / "trigger-form.png"


@pytest.fixture
def page(tmp_path: Path) -> Iterator[object]:
    """A fresh headless Chromium page (Debian's browser, a new profile in tmp_path)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("playwright is not installed: pip install playwright==1.65.2")
    executable = chromium_path()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),
            executable_path=executable,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 900},
        )
        try:
            page = browser.pages[0] if browser.pages else browser.new_page()
            page.set_default_timeout(30_000)
            yield page
        finally:
            browser.close()


def _get(path: str) -> Callable[[Any], bool]:
    """Matches the browser's GET of exactly this API path (decoded; any query string)."""

    def matches(response: Any) -> bool:
        if response.request.method != "GET":
            return False
        return urllib.parse.unquote(urllib.parse.urlsplit(response.url).path) == path

    return matches


def sign_in(page: Any, stack: Stack, dag_id: str) -> dict[str, Any]:
    """Open the DAG's page, log in, and return the DAG details the page fetched.

    Why wait for those responses: the trigger form (params) and the docs panel (doc_md) render
    from GET /api/v2/dags/{id}/details, the trigger dialog's body from GET /api/v2/dags/{id}.
    The page asks for both after the login, but shows its buttons before they answer; on a
    busy machine a dialog opened in between is an empty form for as long as the api-server
    takes. The UI caches both queries for five minutes, so once these responses are in, every
    dialog renders from them at once.
    """
    page.goto(f"{stack.url}/dags/{dag_id}")
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill(stack.password)
    with (
        page.expect_response(_get(f"/api/v2/dags/{dag_id}/details")) as details,
        page.expect_response(_get(f"/api/v2/dags/{dag_id}")) as dag,
    ):
        page.get_by_role("button", name="Sign in").click()
    assert dag.value.status == 200, dag.value.text()
    assert details.value.status == 200, details.value.text()
    return details.value.json()


def test_trigger_form_dry_run(
    page: object, airflow_stack: Stack, api: Api, parsed_dags: dict, tmp_path: Path
) -> None:
    """Log in, see the params form with labels and enum choices, trigger a dry run, see it pass."""
    from playwright.sync_api import Page, expect

    assert isinstance(page, Page)
    details = sign_in(page, airflow_stack, DAG_ID)
    assert {"target", "dry_run", "keep_workspace"} <= details["params"].keys()

    page.get_by_role("button", name="Trigger Dag").click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_role("heading", name=f"Trigger Dag - {DAG_ID}")).to_be_visible()
    # Each param shows its title as the field label ("Target *": required) and names its control.
    for label, role in (
        ("Target", "combobox"),
        ("Dry run", "checkbox"),
        ("Keep workspace", "checkbox"),
    ):
        expect(dialog.get_by_text(re.compile(rf"^{label}\s*\*?$")).first).to_be_visible()
        expect(dialog.get_by_role(role, name=label, exact=True)).to_be_attached()
    expect(dialog.get_by_text("Environment the modules deploy to.")).to_be_visible()

    dialog.get_by_role("combobox", name="Target").click()
    options = page.get_by_role("option")
    expect(options).to_have_text(["dev", "test", "prod"])
    page.get_by_role("option", name="dev", exact=True).click()

    dry_run = dialog.get_by_role("checkbox", name="Dry run")
    expect(dry_run).not_to_be_checked()
    # Chakra's switch hides the input under its styled control: click the control.
    dialog.get_by_role("group").filter(has_text="Dry run").locator(
        "[data-scope=switch][data-part=control]"
    ).click()
    expect(dry_run).to_be_checked()
    expect(dialog.get_by_role("checkbox", name="Keep workspace")).not_to_be_checked()

    form_png = tmp_path / "trigger-form.png"
    page.screenshot(path=str(form_png))
    if os.environ.get("DAGSPEC_UPDATE_SCREENSHOTS") == "1":
        DOCS_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(form_png, DOCS_SCREENSHOT)

    with page.expect_response(
        lambda r: r.url.endswith(f"/dags/{DAG_ID}/dagRuns") and r.request.method == "POST"
    ) as response_info:
        dialog.get_by_role("button", name="Trigger").click()
    response = response_info.value
    assert response.status == 200, response.text()
    run = response.json()
    assert run["conf"] == {"target": "dev", "dry_run": True, "keep_workspace": False}
    run_id = run["dag_run_id"]

    final = api.wait_for_run(DAG_ID, run_id)
    assert final["state"] == "success", api.task_states(DAG_ID, run_id)

    # The run page draws its state badge from GET dagRuns/{run_id}: wait for that answer.
    quoted = urllib.parse.quote(run_id, safe="")
    with page.expect_response(_get(f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}")) as shown:
        page.goto(f"{airflow_stack.url}/dags/{DAG_ID}/runs/{quoted}")
    assert shown.value.json()["state"] == "success"
    header = page.get_by_role("heading", name=run_id, exact=True).locator("xpath=..")
    expect(header.get_by_test_id("state-badge")).to_have_text("Success")
    run_png = tmp_path / "run-success.png"
    page.screenshot(path=str(run_png))
    if os.environ.get("DAGSPEC_UPDATE_SCREENSHOTS") == "1":
        shutil.copyfile(run_png, DOCS_SCREENSHOT.with_name("trigger-run-success.png"))
