"""Check that two DAG folders build the same DAGs: Airflow's serialized form of each DAG (less
its file, each folder's parent written as `<project>`) and every public attribute of every task
(the serialized form leaves out arguments that are not template fields). Prints one JSON line;
exits 1 on the first difference."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any


def dags(folder: Path) -> dict[str, Any]:
    from airflow.dag_processing.dagbag import DagBag
    from airflow.serialization.serialized_objects import DagSerialization

    bag = DagBag(dag_folder=str(folder))
    if bag.import_errors:
        sys.exit(f"import errors in {folder}: {bag.import_errors}")
    out = {}
    for dag_id, dag in bag.dags.items():
        data = DagSerialization.to_dict(dag)
        for key in ("fileloc", "relative_fileloc", "_processor_dags_folder"):
            data["dag"].pop(key, None)
        skip = ("task_group",)  # an object; the tree is in the serialized form
        data["tasks"] = {
            t.task_id: {k: v for k, v in vars(t).items() if k[0] != "_" and k not in skip}
            for t in dag.tasks
        }
        text = re.sub(r" at 0x[0-9a-f]+", "", json.dumps(data, sort_keys=True, default=repr))
        out[dag_id] = json.loads(text.replace(str(folder.parent), "<project>"))
    return out


def main() -> int:
    left, right = (dags(Path(p)) for p in sys.argv[1:3])
    if left.keys() != right.keys():
        sys.exit(f"different DAG ids: {sorted(left.keys() ^ right.keys())[:5]}")
    for dag_id in left:
        if left[dag_id] != right[dag_id]:
            a, b = (
                json.dumps(x[dag_id], sort_keys=True, indent=1).splitlines() for x in (left, right)
            )
            pairs = enumerate(zip(a, b, strict=False))
            first = next((i for i, (x, y) in pairs if x != y), min(len(a), len(b)))
            around = slice(max(first - 3, 0), first + 3)
            sys.exit(
                f"{dag_id} differs:\n" + "\n".join(a[around]) + "\n---\n" + "\n".join(b[around])
            )
    print(json.dumps({"same": True, "dags": len(left)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
