"""Comparison: our model against a :class:`~kerasrnn_infer.testing.golden.Reference`.

:func:`compare` runs the model on the reference's inputs and builds a :class:`Report` with one
:class:`Row` per top-level layer (model order) and per model output; :func:`compare_arrays` is
the pass rule for one array: ``|ours - keras| <= atol + rtol * |keras|`` everywhere, and the
same NaN pattern. Each row also gives the worst error as a fraction of that bound
(``max |ours - keras| / (atol + rtol * |keras|)``, 1 at the limit), so a row passes exactly
when it is at most 1.

:func:`default_tolerance` picks the tolerance from the model's compute dtype: float32 and
float64 models 1e-5; models with float16 layers (``mixed_float16``) ``FLOAT16_TOL``, measured
by ``tools/measure_fp16_tolerance.py``: over LSTM/GRU/SimpleRNN/Bidirectional/Conv1D/Dense
models of both writers (20 to 200 steps), this engine against Keras running the float16
model needed at most 8.0e-4 (atol = rtol = t), and Keras's own float16 model against its
float32 twin (same weights) 6.3e-4: float16 keeps 11 significant bits (one unit in the last
place is 9.8e-4 relative), and results rounded to float16 after float32 sums in another order
land one or two units apart. 2e-3 is two float16 units, 2.5x the worst measured.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

import numpy as np

from .._util import as_list
from ..errors import InputError
from .golden import Reference

__all__ = ["FLOAT16_TOL", "FLOAT32_TOL", "Report", "Row", "compare", "compare_arrays",
           "default_tolerance"]

#: default atol = rtol for float32 and float64 models
FLOAT32_TOL = 1e-5
#: default atol = rtol for models computing in float16 (mixed_float16): see the docstring
FLOAT16_TOL = 2e-3


def default_tolerance(model) -> Tuple[float, float, str]:
    """``(atol, rtol, why)`` for ``model`` from its layers' compute dtypes: float16 anywhere
    (``mixed_float16`` or ``float16`` layers) gives ``FLOAT16_TOL``, else ``FLOAT32_TOL``."""
    kinds = set()
    for node in model._root.weight_node().walk():
        if any(c.layer is not None for _, cs in node.children
               for c in (cs if isinstance(cs, list) else [cs])):
            continue                     # a model or wrapper: its parts compute
        dt = getattr(node.layer, "dtype", None)
        if dt is not None and np.dtype(dt).kind == "f":
            kinds.add(np.dtype(dt).itemsize)
    if 2 in kinds:
        return FLOAT16_TOL, FLOAT16_TOL, "default for float16 compute (mixed_float16 layers)"
    name = "float64" if kinds == {8} else "float32"
    return FLOAT32_TOL, FLOAT32_TOL, f"default for {name} compute"


@dataclass
class Row:
    name: str
    class_name: str
    shape: str
    abs_err: Optional[float]
    rel_err: Optional[float]
    status: str                 # PASS, FAIL or SKIP
    note: str = ""
    kind: str = "layer"         # "layer" or "output"
    bound: Optional[float] = None   # max |ours - keras| / (atol + rtol |keras|): pass <= 1


@dataclass
class Report:
    rows: List[Row]
    atol: float
    rtol: float
    reference: str = ""
    model: str = ""
    tolerance: str = "given"    # where atol and rtol come from: "given" or a default's reason

    @property
    def passed(self) -> bool:
        return all(r.status != "FAIL" for r in self.rows)

    @property
    def first_divergence(self) -> Optional[str]:
        for kind in ("layer", "output"):
            for r in self.rows:
                if r.kind == kind and r.status == "FAIL":
                    return r.name
        return None

    @property
    def max_abs_err(self) -> float:
        vals = [r.abs_err for r in self.rows if r.abs_err is not None and np.isfinite(r.abs_err)]
        return max(vals) if vals else 0.0

    def tolerance_line(self) -> str:
        """The tolerance and the pass rule, as the table prints them above its rows."""
        return (f"tolerance: atol={self.atol:g}, rtol={self.rtol:g} ({self.tolerance}); a value "
                f"passes when |ours - keras| <= atol + rtol * |keras|; worst/bound is the "
                f"largest |ours - keras| / (atol + rtol * |keras|), at most 1 to pass")

    def table(self) -> str:
        """The per-layer table: the tolerance line, then one row per layer and per output
        (layer, class, output shape, max abs err, max rel err, worst/bound, result)."""
        head = ("layer", "class", "output shape", "max abs err", "max rel err", "worst/bound",
                "result")
        body = []
        for r in self.rows:
            body.append((r.name, r.class_name, r.shape, _fmt(r.abs_err), _fmt(r.rel_err),
                         _fmt(r.bound, 2), r.status + (f" ({r.note})" if r.note else "")))
        widths = [max(len(x[i]) for x in [head] + body) for i in range(len(head))]
        rule = "  ".join("-" * w for w in widths)
        lines = [self.tolerance_line(),
                 "  ".join(c.ljust(w) for c, w in zip(head, widths)).rstrip(), rule]
        split = False
        for r, cells in zip(self.rows, body):
            if r.kind == "output" and not split:
                lines.append(rule)
                split = True
            lines.append("  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip())
        return "\n".join(lines)

    @property
    def worst_bound(self) -> float:
        """The largest worst/bound of the rows (at most 1 when everything passes)."""
        vals = [r.bound for r in self.rows if r.bound is not None]
        return max(vals) if vals else 0.0

    def summary(self) -> str:
        """One line: PASS or FAIL, counts, the worst error and the tolerance."""
        n_fail = sum(r.status == "FAIL" for r in self.rows)
        n_pass = sum(r.status == "PASS" for r in self.rows)
        n_skip = sum(r.status == "SKIP" for r in self.rows)
        tol = f"atol={self.atol:g}, rtol={self.rtol:g}"
        if self.passed:
            return (f"PASS: {n_pass} compared, {n_skip} skipped; max abs err "
                    f"{self.max_abs_err:.3g}, worst/bound {_fmt(self.worst_bound, 2)} "
                    f"({tol}) vs {self.reference}")
        return (f"FAIL: {n_fail} of {n_pass + n_fail} differ ({tol}) vs {self.reference}; "
                f"first divergence: {self.first_divergence}")

    def text(self) -> str:
        """The table and the summary line."""
        return f"{self.table()}\n{self.summary()}"

    def to_dict(self) -> dict:
        """The report as plain data (``verify --json``)."""
        return {"passed": self.passed, "first_divergence": self.first_divergence,
                "atol": self.atol, "rtol": self.rtol, "tolerance": self.tolerance,
                "reference": self.reference, "model": self.model,
                "max_abs_err": self.max_abs_err, "worst_bound": self.worst_bound,
                "rows": [r.__dict__ for r in self.rows]}


def _fmt(v, digits: int = 3):
    if v is None:
        return "-"
    if not np.isfinite(v):
        return str(v)
    return f"{v:.{digits}g}" if v else "0"


def _shape_text(shapes):
    shapes = [tuple(int(d) for d in s) for s in shapes]
    if len(shapes) == 1:
        return str(shapes[0])
    return "[" + ", ".join(str(s) for s in shapes) + "]"


def compare_arrays(got, want, atol, rtol) -> Tuple[Optional[float], Optional[float], bool, str]:
    """(max abs err, max rel err, ok, note). Relative error is taken over elements with
    ``|want| > atol``; a pass means ``|got - want| <= atol + rtol * |want|`` everywhere and
    the same NaN pattern."""
    a, r, _, ok, note = _compare(got, want, atol, rtol)
    return a, r, ok, note


def _compare(got, want, atol, rtol):
    """compare_arrays with the worst error as a fraction of the bound:
    (abs, rel, bound, ok, note)."""
    got = np.asarray(got)
    want = np.asarray(want)
    if got.shape != want.shape:
        return None, None, None, False, f"shape {got.shape}, Keras gives {want.shape}"
    if got.dtype.kind == "U" and want.dtype.kind == "U":     # string inputs passed through
        same = bool(np.array_equal(got, want))
        return (0.0, 0.0, 0.0, True, "") if same else (None, None, None, False,
                                                        "strings differ")
    if got.dtype.kind not in "fiub" or want.dtype.kind not in "fiub":
        return None, None, None, False, f"non-numeric output ({got.dtype} vs {want.dtype})"
    g = got.astype(np.float64)
    w = want.astype(np.float64)
    nan_g, nan_w = np.isnan(g), np.isnan(w)
    if not np.array_equal(nan_g, nan_w):
        return float("nan"), float("nan"), float("nan"), False, "NaN pattern differs"
    ok_mask = ~nan_w
    if not ok_mask.any():
        return 0.0, 0.0, 0.0, True, ""
    d = np.abs(g[ok_mask] - w[ok_mask])
    aw = np.abs(w[ok_mask])
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        inf_eq = (g[ok_mask] == w[ok_mask])
        d = np.where(inf_eq, 0.0, d)
        abs_err = float(d.max()) if d.size else 0.0
        big = aw > atol
        rel_err = float((d[big] / aw[big]).max()) if big.any() else 0.0
        allowed = atol + rtol * aw
        ok = bool(np.all(d <= allowed))
        frac = np.where(d == 0, 0.0, d / allowed)   # d > 0 against a zero bound: inf
        bound = float(frac.max()) if frac.size else 0.0
    return abs_err, rel_err, bound, ok, ""


def _compare_lists(gots, wants, atol, rtol):
    if len(gots) != len(wants):
        return None, None, None, False, f"{len(gots)} outputs, Keras gives {len(wants)}"
    worst_a, worst_r, worst_b, ok_all, notes = 0.0, 0.0, 0.0, True, []
    for j, (g, w) in enumerate(zip(gots, wants)):
        a, r, b, ok, note = _compare(g, w, atol, rtol)
        if note:
            notes.append(note if len(wants) == 1 else f"output {j}: {note}")
        ok_all &= ok
        if a is None:
            worst_a = worst_r = worst_b = None
        elif worst_a is not None:
            worst_a = max(worst_a, a) if np.isfinite(a) else a
            worst_r = max(worst_r, r) if np.isfinite(r) else r
            worst_b = max(worst_b, b) if not np.isnan(b) else b
    return worst_a, worst_r, worst_b, ok_all, "; ".join(notes)


def compare(model, ref: Reference, atol: float = 1e-5, rtol: float = 1e-5,
            inputs: Optional[Sequence[np.ndarray]] = None, check_layers: bool = True) -> Report:
    """Run ``model`` on ``ref.inputs`` (or ``inputs``) and compare with the reference: one row
    per top-level layer (model order) that the reference has, then one per model output."""
    xs = list(ref.inputs if inputs is None else inputs)
    if not xs:
        raise InputError(f"{ref.source or 'reference'}: holds no inputs (in/0, ...)")
    feed = xs if len(xs) > 1 else xs[0]
    model.reset_states()
    fixed = None
    if model.stateful and xs[0].ndim:
        fixed = model.inputs[0].shape[0] if model.inputs[0].shape else None
    got_out = as_list(model._flat(model.predict(feed, batch_size=fixed)))
    rows: List[Row] = []
    if check_layers:
        model.reset_states()
        got_layers = model.layer_outputs(feed) if ref.layers else {}
        model.reset_states()
        ours = {l.name: l for l in model.layers}
        for l in model.layers:
            if l.name not in ref.layers:
                note = "called more than once, not probed" \
                    if l.name in ref.skipped else "no reference"
                rows.append(Row(l.name, l.class_name, "", None, None, "SKIP", note))
                continue
            want = ref.layers[l.name]
            if l.name not in got_layers:
                rows.append(Row(l.name, l.class_name, _shape_text([w.shape for w in want]),
                                None, None, "FAIL", "no output from kerasrnn_infer"))
                continue
            a, r, b, ok, note = _compare_lists(as_list(got_layers[l.name]), want, atol, rtol)
            rows.append(Row(l.name, l.class_name, _shape_text([w.shape for w in want]), a, r,
                            "PASS" if ok else "FAIL", note, bound=b))
        for name in ref.layers:
            if name not in ours:
                rows.append(Row(name, "?", _shape_text([w.shape for w in ref.layers[name]]),
                                None, None, "FAIL", "the model has no layer of this name"))
    keys = list(model.output_names)
    n = max(len(got_out), len(ref.outputs))
    for j in range(n):
        label = f"output {j}" + (f" ({keys[j]})" if j < len(keys) else "")
        if j >= len(got_out) or j >= len(ref.outputs):
            rows.append(Row(label, "", "", None, None, "FAIL",
                            f"kerasrnn_infer gives {len(got_out)} outputs, Keras "
                            f"{len(ref.outputs)}", "output"))
            continue
        a, r, b, ok, note = _compare(got_out[j], ref.outputs[j], atol, rtol)
        rows.append(Row(label, "", _shape_text([np.shape(ref.outputs[j])]), a, r,
                        "PASS" if ok else "FAIL", note, "output", b))
    return Report(rows, atol, rtol, ref.source, "")
