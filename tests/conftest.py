import importlib.util
import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(ROOT, "fixtures")
REALWORLD = os.path.join(os.path.dirname(ROOT), "shared", "realworld")

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def have_tensorflow() -> bool:
    return importlib.util.find_spec("tensorflow") is not None


@pytest.fixture(scope="session")
def fixtures_dir():
    return FIXTURES
