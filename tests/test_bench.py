"""tools/bench.py --quick runs (without TensorFlow) and its float64 self-check passes."""

import os
import subprocess
import sys

from conftest import ROOT


def test_bench_quick_smoke():
    cmd = [sys.executable, os.path.join(ROOT, "tools", "bench.py"), "--quick", "--configs", "1",
           "--threads", "1", "--budget", "0.05"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=60,
                       env=dict(os.environ, PYTHONPATH=ROOT))
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
    assert "self-check: PASSED" in r.stdout, r.stdout[-3000:]
    assert "lstm_b1_t50_f16_u64" in r.stdout
