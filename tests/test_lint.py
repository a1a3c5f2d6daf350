"""The package passes ruff and mypy (configured in pyproject.toml); skipped where they are not
installed (the test extra installs both)."""

import importlib.util
import subprocess
import sys

import pytest

from conftest import ROOT


@pytest.mark.parametrize("tool,args", [("ruff", ["check", "kerasrnn_infer"]), ("mypy", [])])
def test_package_passes(tool, args):
    if importlib.util.find_spec(tool) is None:
        pytest.skip(f"{tool} is not installed")
    r = subprocess.run([sys.executable, "-m", tool, *args], cwd=ROOT, capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 0, (r.stdout + r.stderr)[-4000:]
