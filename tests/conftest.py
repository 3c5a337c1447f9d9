import json
import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

DATA = Path(__file__).parent / "data"

settings.register_profile("default", max_examples=300, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("ci", max_examples=300, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("ci" if os.environ.get("CI") else "default")

#: long simulations run in full with MTEST_FULL=1; CI runs them reduced (still >= 2000 reps
#: wherever a test promises that many)
FULL = os.environ.get("MTEST_FULL", "") not in ("", "0")


@pytest.fixture(scope="session")
def r_reference():
    return json.loads((DATA / "p_adjust_R.json").read_text())["cases"]


@pytest.fixture(scope="module")
def numba_paths():
    """Small inputs take the Numba paths too (every threshold of ``mtest._small`` at 0), for the
    modules that test those paths on small data (``pytestmark = usefixtures('numba_paths')``)."""
    from mtest import _small

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_small, "SMALL_BELOW", 0)
        mp.setattr(_small, "HOMMEL_BELOW", 0)
        mp.setattr(_small, "SMALL_TEXT_BYTES", 0)
        yield
