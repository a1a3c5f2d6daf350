"""The real-world corpus (../shared/realworld): real Keras files, Keras 1.1 to 3.15."""

import os

import pytest

from _cases import check_model, load, read_case
from conftest import REALWORLD
from custom_layers import CUSTOM_OBJECTS

CASES = sorted(d for d in os.listdir(REALWORLD)
               if os.path.isfile(os.path.join(REALWORLD, d, "case.json"))) \
    if os.path.isdir(REALWORLD) else []


@pytest.mark.skipif(not CASES, reason=f"real-world corpus not found at {REALWORLD}")
@pytest.mark.parametrize("name", CASES or ["none"])
def test_realworld_case(name):
    d = os.path.join(REALWORLD, name)
    spec, io = read_case(d)
    custom = CUSTOM_OBJECTS if spec.get("custom_layers") else None
    model = load(d, spec["load"], custom)
    if "call0/out/0" not in io:
        return
    check_model(model, spec, io)
