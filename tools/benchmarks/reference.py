"""The self-check's reference: each model's output from the readable cells of
kerasrnn_infer.cells in float64, which the engine must match to TOL."""

import numpy as np

from kerasrnn_infer import cells

from .configurations import model_key
from .models import cell_arrays, cell_specs

TOL = 1e-5


def output(c, tree, x, dtype="float64"):
    """Last output of config ``c``'s model, zero initial state; Bidirectional: the forward run
    and the ``go_backwards`` run, concatenated."""
    runs = [cells.run([spec], [cells.CellWeights.of(spec, [np.asarray(a, dtype) for a in arrays])],
                      x, go_backwards=k == 1)[0]
            for k, (spec, arrays) in enumerate(zip(cell_specs(c["layer"], c["units"], dtype),
                                                   cell_arrays(tree)))]
    return np.concatenate(runs, axis=-1)


def references(configs, trees, inputs):
    """{config id: float64 reference output}."""
    return {c["id"]: output(c, trees[model_key(c)], inputs[c["id"]]) for c in configs}
