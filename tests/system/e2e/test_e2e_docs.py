"""What a running Airflow shows of a generated DAG: its docs panel and its trigger form's params.

Why a real stack: `doc_md` only matters as Airflow's UI renders it (Markdown with GFM tables in
a dialog of fixed width; Airflow 3.3's docs panel draws no Mermaid, so the doc names the command
that draws the picture instead of carrying its source), and which
params the trigger form marks required is decided by the UI from the params' JSON Schema as the
REST API serves it.
"""

from __future__ import annotations

import os
import shutil
import urllib.parse
from pathlib import Path

import pytest

from .conftest import ROOT, Api, Stack, generated_dag_ids
from .test_e2e_ui import page, sign_in  # noqa: F401 - page: the headless Chromium fixture

pytestmark = pytest.mark.e2e

DAG_ID = "waste-tracking"
DOCS_SCREENSHOT = ROOT / "docs" / "images" / "dag-docs.png"


def marked_required(param: dict) -> bool:
    """The trigger form's rule (Airflow 3.3 UI): a field is required unless its type allows null."""
    kind = param["schema"].get("type")
    return bool(kind) and (not isinstance(kind, list) or "null" not in kind)


def test_params_with_defaults_are_not_marked_required(api: Api, parsed_dags: dict) -> None:
    for dag_id in sorted(generated_dag_ids()):
        params = api.get(f"/api/v2/dags/{urllib.parse.quote(dag_id)}/details")["params"]
        assert params, dag_id
        for name, param in params.items():
            assert param["value"] is not None or param["schema"].get("type") == "object", name
            assert not marked_required(param), f"{dag_id}: {name} is marked required: {param}"


def test_dag_and_task_docs_over_rest(api: Api, parsed_dags: dict) -> None:
    doc = api.get(f"/api/v2/dags/{DAG_ID}/details")["doc_md"]
    assert doc.startswith(f"# {DAG_ID}\n")
    assert "1. **pull**: " in doc and "\n    - `model-pull` — Fetch" in doc
    assert "| spec | `specs/waste-tracking.yaml`, extends `specs/entity-pipeline.yaml` |" in doc
    assert f"See the picture: `dagspec graph {DAG_ID}`" in doc
    assert "mermaid" not in doc and "sha256" not in doc  # no picture source, no file hash
    task = api.get(f"/api/v2/dags/{DAG_ID}/tasks/pull.model-pull")
    assert "Fetch the entity's records" in task["doc_md"]


def test_docs_panel_fits_the_dialog_with_settings_phases_and_flow(
    page: object,  # noqa: F811
    airflow_stack: Stack,
    parsed_dags: dict,
    tmp_path: Path,
) -> None:
    from playwright.sync_api import Page, expect

    assert isinstance(page, Page)
    page.set_viewport_size({"width": 1280, "height": 1400})
    details = sign_in(page, airflow_stack, DAG_ID)  # the panel renders this response's doc_md
    assert "1. **pull**: " in details["doc_md"]

    page.get_by_role("button", name="Dag Docs").click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_role("heading", name=DAG_ID, exact=True)).to_be_visible()
    table = dialog.locator("table").filter(has_text="task settings")
    expect(table).to_be_visible()
    expect(table.get_by_role("columnheader")).to_have_text(["setting", "value"])
    expect(table.get_by_role("row")).to_have_count(1 + 5)  # kind, owner, schedule, spec, settings
    expect(dialog.get_by_role("listitem").filter(has_text="model-pull").last).to_be_attached()
    expect(dialog.get_by_text("Flow: ", exact=False).first).to_be_attached()
    expect(dialog.get_by_text(f"dagspec graph {DAG_ID}", exact=False).first).to_be_attached()
    expect(dialog.locator("code").filter(has_text="flowchart")).to_have_count(0)
    # nothing wider than the dialog: no table a reader has to scroll sideways
    box, shown = dialog.bounding_box(), table.bounding_box()
    assert box is not None and shown is not None and shown["width"] <= box["width"], (box, shown)

    # The panel's text box is resizable (its handle sits bottom right): make it as large as a
    # reader would drag it, so the screenshot shows the settings and the phases.
    heading = dialog.get_by_role("heading", name="Phases")
    resized = heading.evaluate("""h => {
        let found = false;
        for (let box = h.parentElement; box; box = box.parentElement) {
            const style = getComputedStyle(box);
            box.style.maxHeight = 'none';
            box.style.maxWidth = 'none';
            if (style.resize !== 'none' || ['auto', 'scroll'].includes(style.overflowY)) {
                box.style.height = '1250px';
                box.style.width = '1200px';
                found = true;
            }
            if (box.getAttribute('role') === 'dialog') { box.style.width = '1240px'; break; }
        }
        return found;
    }""")
    assert resized, "the docs panel has no scrolling text box"
    dialog.get_by_role("heading", name="Phases").scroll_into_view_if_needed()
    shot = tmp_path / "dag-docs.png"
    page.screenshot(path=str(shot))
    if os.environ.get("DAGSPEC_UPDATE_SCREENSHOTS") == "1":
        shutil.copyfile(shot, DOCS_SCREENSHOT)
