"""Shared fixtures: the developer audio sets (real files, built from Debian packages)."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import torch

torch.set_num_threads(1)  # 2-core machines: one thread is steadier and often faster for tiny models

ROOT = Path(__file__).resolve().parent.parent
DEV_SETS = Path(os.environ.get("DISTILL_DEV_SETS", "/tmp/dev-sets"))
MAKE_DEV_SETS = ROOT.parent / "shared" / "data" / "make_dev_sets.sh"


@pytest.fixture(scope="session")
def dev_sets() -> Path:
    """Folder holding dev-tiny-5/, dev-small-30/, dev-mixed-120/ and their manifests."""
    if not (DEV_SETS / "dev-mixed-120.manifest.json").exists():
        if not MAKE_DEV_SETS.exists():
            pytest.fail(f"developer sets missing at {DEV_SETS} and no {MAKE_DEV_SETS} to build them")
        subprocess.run(["bash", str(MAKE_DEV_SETS), str(DEV_SETS)], check=True)
    return DEV_SETS
