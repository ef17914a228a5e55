import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data (real clips). Skips when absent; fails instead under STCCL_REQUIRE_SHARED=1."""
    if not (SHARED / "README.md").is_file():
        msg = f"shared clips not found at {SHARED}"
        if os.environ.get("STCCL_REQUIRE_SHARED") == "1":
            pytest.fail(msg + " (STCCL_REQUIRE_SHARED=1)")
        pytest.skip(msg)
    return SHARED


@pytest.fixture(autouse=True)
def _seeded():
    """Every test starts from the same random state, so results do not depend on test order."""
    import numpy as np
    import torch

    torch.manual_seed(0)
    np.random.seed(0)
