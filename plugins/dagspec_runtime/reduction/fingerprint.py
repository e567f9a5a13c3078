"""The input fingerprint of a step run: what went in (content checksums) plus the config.

Two runs with the same fingerprint read the same bytes with the same settings, so one's result
is the other's, up to the software version (which the version policy judges separately).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any


def input_fingerprint(labels: Iterable[str], config: Mapping[str, Any]) -> str:
    """sha256 over the sorted input labels (`raw:<name>:<sha256>`, `product:<sha256>`) and the
    config, as canonical JSON."""
    payload = {"inputs": sorted(labels), "config": config}
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()
