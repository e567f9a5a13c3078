"""registry: record what this run produced, with checksums (register/registry.json).

Inputs missing from the workspace (a partial run) are left out, not fatal; the model is required.

Deterministic on purpose (no timestamps): promoting an unchanged entity reports "unchanged".
"""

from __future__ import annotations

import sys

from _common import ModuleError, Run, log, main, sha256

NAME = "registry"


def register(run: Run) -> None:
    artifacts = {}
    for relative in sorted(run.manifest.get("inputs", {}).values()):
        path = run.workspace / relative
        if not path.is_file():  # a partial run registers what it produced
            log(f"{NAME}: {relative} was not produced, not registered")
            continue
        artifacts[relative] = sha256(path)
    if not artifacts:
        raise ModuleError("nothing to register: the manifest lists no inputs")
    model = run.read_json_input("model")
    entry = {
        "entity": run.entity,
        "owner": model.get("owner") or "unassigned",
        "fields": len(model["fields"]),
        "model_sha256": artifacts.get(run.manifest["inputs"]["model"]),
        "artifacts": artifacts,
    }
    run.write_json("registry.json", entry)
    log(f"{NAME}: registered {len(artifacts)} artifacts")


if __name__ == "__main__":
    sys.exit(main(NAME, register))
