"""Where slow-to-build artefacts are cached: outside the repository, so a fresh clone reuses them."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    path = Path(os.environ.get("DH_CACHE_DIR", Path.home() / ".cache" / "decentrahealth"))
    path.mkdir(parents=True, exist_ok=True)
    return path
