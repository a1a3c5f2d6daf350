"""The benchmark behind tools/bench.py, one module per concern (bench.py says what it measures)."""

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# this checkout's kerasrnn_infer (the workers get it by PYTHONPATH), and tests/_build.py's writer
for _path in (os.path.join(ROOT, "tests"), ROOT):
    if _path not in sys.path:
        sys.path.insert(0, _path)
