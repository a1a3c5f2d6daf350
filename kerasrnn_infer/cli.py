"""The ``kerasrnn-infer`` command line (also ``python -m kerasrnn_infer``).

Subcommands: info, predict, verify, golden, demo. Exit codes: 0 success, 1 mismatch with
Keras, 2 bad usage or bad file (one line on stderr; ``--debug`` shows the traceback).
Importing this module never imports TensorFlow or Keras; ``verify`` and ``golden`` import
them lazily when they need real Keras.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import List, Optional

import numpy as np

from ._util import as_list
from .errors import UsageError

PROG = "kerasrnn-infer"
EXIT_OK, EXIT_MISMATCH, EXIT_USAGE = 0, 1, 2
DATA_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")


class _Parser(argparse.ArgumentParser):
    def error(self, message):             # one line, exit 2 (argparse prints usage otherwise)
        sys.stderr.write(f"{PROG}: error: {message} (see '{self.prog} --help')\n")
        sys.exit(EXIT_USAGE)


# ----- helpers ----------------------------------------------------------------------------------
def _import_spec(spec: str, option: str):
    """The module a ``--custom`` / ``--keras-custom`` SPEC names, and the attribute it names
    (or None): ``FILE.py[:ATTR]`` or ``package.module[:ATTR]``. This runs the user's code."""
    import importlib
    import importlib.util
    path, attr = spec, None
    head, sep, tail = spec.rpartition(":")
    if sep and tail.isidentifier() and head and (head.endswith(".py") or "/" not in tail):
        path, attr = head, tail
    if path.endswith(".py") or os.sep in path or "/" in path:
        if not os.path.isfile(path):
            raise UsageError(f"{option} {spec}: no such file {path}")
        name = "kerasrnn_infer_custom_" + "".join(
            c if c.isalnum() else "_" for c in os.path.splitext(os.path.basename(path))[0])
        module_spec = importlib.util.spec_from_file_location(name, path)
        if module_spec is None or module_spec.loader is None:
            raise UsageError(f"{option} {spec}: {path} is not a Python file")
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[name] = module
        try:
            module_spec.loader.exec_module(module)
        except Exception as e:  # noqa: BLE001 - the user's code failed: say where
            sys.modules.pop(name, None)
            raise UsageError(f"{option} {spec}: running {path} failed: "
                             f"{type(e).__name__}: {e}") from e
        return module, attr
    added = os.getcwd() not in sys.path
    if added:                    # as 'python -m' does: modules in the current directory
        sys.path.insert(0, os.getcwd())
    try:
        return importlib.import_module(path), attr
    except Exception as e:  # noqa: BLE001 - ImportError or the user's code failing
        raise UsageError(f"{option} {spec}: cannot import {path}: {type(e).__name__}: "
                         f"{e}") from e
    finally:
        if added:
            sys.path.remove(os.getcwd())


def _objects(module, attr, default: str, spec: str, option: str, required: bool = True,
             keras: bool = False):
    """The dict ``module.attr`` (or ``module.<default>``). For our factories a function
    returning the dict is called now; for real Keras's (``keras``) it is passed on and called
    with the Keras module (keras or tf_keras) only when real Keras runs, so the module
    imports without TensorFlow and can give each Keras its own classes."""
    name = attr or default
    if not hasattr(module, name):
        if not required:
            return None
        found = [k for k, v in vars(module).items() if isinstance(v, dict) and
                 not k.startswith("_")]
        raise UsageError(f"{option} {spec}: {module.__name__} has no {name}"
                         + (f" (dicts there: {', '.join(found)}; name one with "
                            f"{spec}:NAME)" if found else
                            f"; define {name} = {{'LayerClass': factory, ...}}"))
    value = getattr(module, name)
    if callable(value) and not isinstance(value, dict):
        if keras:
            return value
        value = value()
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise UsageError(f"{option} {spec}: {name} is a {type(value).__name__}, expected a "
                         f"dict from layer class names to factories")
    return value


def _custom_objects(args):
    """``--custom``: our factories, or None."""
    spec = getattr(args, "custom", None)
    if not spec:
        return None
    module, attr = _import_spec(spec, "--custom")
    args._custom_module = module
    return _objects(module, attr, "CUSTOM_OBJECTS", spec, "--custom")


def _keras_custom_objects(args):
    """Real Keras's custom objects (verify/golden, live): ``--keras-custom``, else the
    ``KERAS_CUSTOM_OBJECTS`` of the ``--custom`` module when it has one, else None."""
    spec = getattr(args, "keras_custom", None)
    if spec:
        module, attr = _import_spec(spec, "--keras-custom")
        return _objects(module, attr, "KERAS_CUSTOM_OBJECTS", spec, "--keras-custom",
                        keras=True)
    module = getattr(args, "_custom_module", None)
    if module is None:
        return None
    return _objects(module, None, "KERAS_CUSTOM_OBJECTS", args.custom, "--custom",
                    required=False, keras=True)


def _load(args, path=None):
    """The model the arguments name: MODEL, or with ``--architecture`` the architecture JSON
    and MODEL as its weights file; ``--custom`` supplies custom layers."""
    from . import limits, load_model, model_from_json
    from .errors import ConfigError
    path = path or args.model
    if not os.path.exists(path) and not os.path.isfile(path + ".index"):   # or a TF checkpoint
        raise UsageError(f"{path}: no such file or directory")
    custom = _custom_objects(args)
    version = getattr(args, "keras_version", None)
    arch = getattr(args, "architecture", None)
    if not arch:
        model = load_model(path, custom_objects=custom, keras_version=version)
        if getattr(args, "custom", None):
            model._origin["cli"] = f"{path} --custom {args.custom}"
        return model
    if not os.path.isfile(arch):
        raise UsageError(f"--architecture {arch}: no such file")
    with open(arch, "rb") as f:
        text = f.read(limits.MAX_CONFIG_BYTES + 1)
    try:
        model = model_from_json(text, custom_objects=custom, keras_version=version)
    except ConfigError as e:
        raise type(e)(str(e).replace("<json>", f"--architecture {arch}", 1)) from None
    model.load_weights(path)
    model._origin["label"] = f"{arch} + {path}"
    model._origin["cli"] = f"{path} --architecture {arch}" + \
        (f" --custom {args.custom}" if getattr(args, "custom", None) else "")
    return model


def _label(args) -> str:
    arch = getattr(args, "architecture", None)
    return f"{arch} + {args.model}" if arch else args.model


def _shape(shape) -> str:
    if shape is None:
        return "?"
    if isinstance(shape, list):
        return "[" + ", ".join(_shape(s) for s in shape) + "]"
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + \
        ("," if len(shape) == 1 else "") + ")"


def _layer_shapes(model):
    """Output shape of every top-level layer: two dry runs with different sizes for the
    unknown dimensions; dimensions that change are None."""
    runs = []
    for size in (2, 3):
        feeds = []
        for spec in model.inputs:
            if spec.shape is None:
                return {}
            feeds.append(np.zeros(tuple(size if d is None else d for d in spec.shape),
                                  spec.dtype))
        try:
            model.reset_states()
            runs.append(model.layer_outputs(feeds if len(feeds) > 1 else feeds[0]))
        except Exception:            # shapes are informative only
            return {}
        finally:
            model.reset_states()
    out = {}
    for name, a in runs[0].items():
        b = runs[1].get(name)
        shapes = []
        for x, y in zip(as_list(a), as_list(b)):
            shapes.append(tuple(p if p == q else None for p, q in zip(np.shape(x), np.shape(y))))
        out[name] = shapes[0] if len(shapes) == 1 else shapes
    return out


def _table(rows) -> List[str]:
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    rule = "  ".join("-" * w for w in widths)
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(rows[0], widths)).rstrip(), rule]
    lines += ["  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows[1:]]
    return lines


class _Progress:
    """A one-line progress bar on stderr, shown only when stderr is a terminal."""

    def __init__(self, total, stream=None):
        self.total, self.stream = total, stream or sys.stderr
        self.enabled = total > 0 and hasattr(self.stream, "isatty") and self.stream.isatty()
        self.start = time.monotonic()

    def update(self, done):
        if not self.enabled:
            return
        frac = done / self.total
        bar = "#" * int(30 * frac)
        rate = done / max(time.monotonic() - self.start, 1e-9)
        self.stream.write(f"\r[{bar:<30}] {done}/{self.total} samples  {rate:,.0f}/s")
        self.stream.flush()

    def close(self):
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()


def _predict(model, xs, batch_size=None, progress=True):
    n = int(xs[0].shape[0]) if xs and xs[0].ndim else 0
    feed = xs if len(xs) > 1 else xs[0]
    chunk = batch_size
    tty = progress and sys.stderr.isatty()
    if chunk is None and tty and n > 256:
        chunk = 256
    if model.stateful or not chunk or n <= chunk:
        return model._flat(model.predict(feed, batch_size=batch_size))
    bar = _Progress(n) if progress else None
    parts = []
    for i in range(0, n, chunk):
        part = [x[i:i + chunk] for x in xs]
        ys = model._flat(model.predict(part if len(part) > 1 else part[0]))
        parts.append(ys if isinstance(ys, list) else [ys])
        if bar:
            bar.update(min(i + chunk, n))
    if bar:
        bar.close()
    outs = [np.concatenate([p[j] for p in parts], axis=0) for j in range(len(parts[0]))]
    return outs[0] if len(outs) == 1 else outs


# ----- subcommands ---------------------------------------------------------------------------
def cmd_info(args, out) -> int:
    model = _load(args)
    w = out.write
    w(f"model:    {_label(args)}\n")
    fmt = model.format
    if args.architecture:
        fmt = f"architecture JSON + {model._origin.get('weights_format', 'weights')}"
    w(f"format:   {fmt}\n")
    w(f"keras:    {model.keras_version}  (writing Keras version)\n")
    if model.stateful:
        w("stateful: yes (states carried between predict calls)\n")
    w("inputs:\n")
    for s in model.inputs:
        w(f"  {s.name:<20} {_shape(s.shape):<20} {np.dtype(s.dtype).name if s.dtype else '?'}\n")
    w("outputs:\n")
    for s in model.outputs:
        w(f"  {s.name:<20} {_shape(s.shape):<20} "
          f"{np.dtype(s.dtype).name if s.dtype is not None else '?'}\n")
    shapes = _layer_shapes(model)
    rows = [("layer", "class", "output shape", "params", "options")]
    for l in model.layers:
        opts = l.describe() or ""
        if getattr(l, "layers", None) is not None and not opts:
            opts = f"{len(l.layers)} layers"
        rows.append((l.name, l.class_name, _shape(shapes.get(l.name)), l.count_params(), opts))
    w("\n")
    for line in _table(rows):
        w(line + "\n")
    w(f"total params: {sum(l.count_params() for l in model.layers)}\n")
    return EXIT_OK


STREAM_BATCH = 4096      # rows per batch when a .npy input streams to a .npy output


def _stream_npy(model, x, path: str, batch_size: Optional[int]) -> None:
    """``x`` (a memory-mapped .npy) scored batch by batch into ``path`` (a .npy written as it
    goes): memory holds one batch of inputs, outputs and intermediates, never the whole."""
    n = int(x.shape[0])
    fixed = model.inputs[0].shape[0] if model.stateful and model.inputs[0].shape else None
    step = fixed or batch_size or STREAM_BATCH
    bar = _Progress(n)
    dst = None
    try:
        for i in range(0, n, step):
            y = model._flat(model.predict(np.ascontiguousarray(x[i:i + step]),
                                          batch_size=batch_size))
            if isinstance(y, list):
                raise UsageError(f"{path}: the model has {len(y)} outputs "
                                 f"({', '.join(model.output_names)}); write them to an .npz "
                                 f"or .json file")
            if dst is None:
                dst = np.lib.format.open_memmap(path, mode="w+", dtype=y.dtype,
                                                shape=(n,) + y.shape[1:])
            dst[i:i + len(y)] = y
            bar.update(min(i + step, n))
        if dst is None:                                  # no rows: an empty output
            y = model._flat(model.predict(np.asarray(x[:0])))
            np.save(path, np.asarray(y))
        else:
            dst.flush()
    finally:
        bar.close()
        del dst


def cmd_predict(args, out) -> int:
    from .arrays_io import read_inputs, write_outputs
    if args.batch_size is not None and args.batch_size <= 0:
        raise UsageError(f"--batch-size {args.batch_size}: must be a positive integer")
    model = _load(args)
    streams = args.input.lower().endswith(".npy") and \
        str(args.output or "").lower().endswith(".npy")
    xs = read_inputs(args.input, model, mmap=streams)
    if streams:
        _stream_npy(model, xs[0], args.output, args.batch_size)
        sys.stderr.write(f"{PROG}: wrote 1 output for {xs[0].shape[0]} sample(s) to "
                         f"{args.output}\n")
        return EXIT_OK
    ys = _predict(model, [np.asarray(x) for x in xs], args.batch_size)
    write_outputs(model, ys, args.output, out)
    if args.output not in (None, "-"):
        sys.stderr.write(f"{PROG}: wrote {len(ys) if isinstance(ys, list) else 1} output(s) for "
                         f"{xs[0].shape[0] if xs[0].ndim else 1} sample(s) to {args.output}\n")
    return EXIT_OK


def _check_tol(args):
    for name in ("atol", "rtol"):
        v = getattr(args, name)
        if v is not None and not (v >= 0):
            raise UsageError(f"--{name} {v}: must be a number >= 0")


def _check_batch(args):
    if args.batch_size is not None and args.batch_size <= 0:
        raise UsageError(f"--batch-size {args.batch_size}: must be a positive integer")


def cmd_verify(args, out) -> int:
    from .testing import GoldenHoldsInputs, compare_model_with_keras
    _check_tol(args)
    _check_batch(args)
    model = _load(args)
    keras_custom = None if args.golden else _keras_custom_objects(args)
    try:
        report = compare_model_with_keras(model, _label(args), inputs=args.input or None,
                                          golden=args.golden or None, atol=args.atol,
                                          rtol=args.rtol, keras_custom_objects=keras_custom,
                                          batch=args.batch_size, steps=args.steps,
                                          seed=args.seed)
    except GoldenHoldsInputs:
        raise UsageError(f"--input {args.input}: the golden file {args.golden} holds its "
                         f"own inputs; drop --input") from None
    if args.json:
        json.dump(report.to_dict(), out, indent=1, default=float)
        out.write("\n")
    else:
        out.write(f"verify {_label(args)} against {report.reference}\n")
        out.write(report.table() + "\n")
        out.write(report.summary() + "\n")
    return EXIT_OK if report.passed else EXIT_MISMATCH


def cmd_golden(args, out) -> int:
    from .testing import record_model_golden
    _check_batch(args)
    model = _load(args)
    ref = record_model_golden(model, _label(args), args.out, inputs=args.input or None,
                              keras_custom_objects=_keras_custom_objects(args),
                              batch=args.batch_size, steps=args.steps, seed=args.seed)
    out.write(f"wrote {args.out}: {len(ref.inputs)} input(s), {len(ref.outputs)} output(s), "
              f"{len(ref.layers)} layer(s) from {ref.source}"
              + (f"; not probed (called more than once): {', '.join(ref.skipped)}"
                 if ref.skipped else "") + "\n")
    return EXIT_OK


def cmd_demo(args, out) -> int:
    from .testing.compare import compare
    from .testing.golden import read_golden
    path = os.path.join(DATA_DIR, "demo.keras")
    golden = os.path.join(DATA_DIR, "demo_io.npz")
    if not (os.path.exists(path) and os.path.exists(golden)):
        raise UsageError(f"the demo model is missing from {DATA_DIR} (reinstall the package, or "
                         f"run tools/train_demo.py)")
    model = _load(argparse.Namespace(model=path))
    ref = read_golden(golden)
    with np.load(golden) as z:
        target = z["target/0"] if "target/0" in z.files else None
    w = out.write
    w(f"demo model: {path}\n")
    w(f"  {model.format}, written by Keras {model.keras_version}; "
      f"{len(model.layers)} layers, {sum(l.count_params() for l in model.layers)} params\n")
    for l in model.layers:
        w(f"    {l.name:<10} {l.class_name:<8} {l.describe()}\n")
    x = ref.inputs[0]
    w(f"task: predict the next value of a noisy sine wave from the last {x.shape[1]} values\n\n")
    t0 = time.perf_counter()
    y = np.asarray(model.predict(x))
    dt = time.perf_counter() - t0
    keras_y = ref.outputs[0]
    rows: List[tuple] = [("sample", "last inputs", "target", "kerasrnn_infer", "Keras",
                          "|diff|")]
    for i in range(x.shape[0]):
        last = " ".join(f"{v:+.2f}" for v in x[i, -3:, 0])
        rows.append((i, "... " + last, "-" if target is None else f"{float(target[i, 0]):+.4f}",
                     f"{float(y[i, 0]):+.6f}", f"{float(keras_y[i, 0]):+.6f}",
                     f"{abs(float(y[i, 0]) - float(keras_y[i, 0])):.2g}"))
    for line in _table(rows):
        w(line + "\n")
    report = compare(model, ref, args.atol, args.rtol)
    kernels = {getattr(getattr(layer, "kernel", None), "name", None) for layer in model.layers}
    how = "the compiled kernel (numba)" if "numba" in kernels else "NumPy"
    w(f"\npredicted {x.shape[0]} sequences in {dt * 1e3:.1f} ms with {how} (no TensorFlow)\n")
    w(f"parity with Keras, every layer: max abs error {report.max_abs_err:.3g} "
      f"(atol {args.atol:g}, rtol {args.rtol:g}): {'PASS' if report.passed else 'FAIL'}\n")
    if not report.passed:
        w(report.table() + "\n")
    return EXIT_OK if report.passed else EXIT_MISMATCH


# ----- parser ---------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    common = _Parser(add_help=False)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="show the full traceback on errors")
    parser = _Parser(
        prog=PROG,
        description="Load trained Keras recurrent models (.keras, legacy .h5, TensorFlow "
                    "SavedModel directories; Keras 1 to 3) without TensorFlow and run them "
                    "in NumPy with Keras's numbers.",
        epilog="exit codes: 0 success, 1 mismatch with Keras, 2 bad usage or bad file. "
               "Start with: kerasrnn-infer demo")
    from . import __version__
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--debug", action="store_true", default=False,
                        help="show the full traceback on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    def model_args(p, keras=False):
        p.add_argument("model", metavar="MODEL",
                       help="a .keras or legacy .h5 model file, or a TensorFlow SavedModel "
                            "directory (tf.keras model.save); with --architecture, the "
                            "weights: a Keras 3 .weights.h5, a legacy save_weights .h5 or a "
                            "TF checkpoint prefix")
        p.add_argument("--architecture", metavar="JSON", default=None,
                       help="the model's architecture JSON (model.to_json()), for a "
                            "weights-only MODEL")
        p.add_argument("--custom", metavar="SPEC", default=None,
                       help="NumPy implementations of the model's custom layers, from YOUR "
                            "Python code: FILE.py or package.module, optionally :ATTR; its "
                            "CUSTOM_OBJECTS dict (or ATTR) maps each class name to "
                            "factory(config, weights) -> layer(inputs, mask=None). This "
                            "imports and runs that code (trust it as you trust your own); "
                            "model files never run code")
        if keras:
            p.add_argument("--keras-custom", metavar="SPEC", default=None,
                           help="real Keras's custom objects (live runs): FILE.py or "
                                "package.module[:ATTR] whose KERAS_CUSTOM_OBJECTS dict (or "
                                "a function of the Keras module, keras or tf_keras, "
                                "returning it) maps class names to your Keras layer "
                                "classes; default: KERAS_CUSTOM_OBJECTS of the --custom "
                                "module, if it has one. Runs that code too")
        p.add_argument("--keras-version", metavar="V", default=None,
                       help="override the writing Keras version recorded in the file "
                            "(e.g. 2 or 3; decides version-dependent maths such as "
                            "hard_sigmoid)")

    def gen_args(p):
        p.add_argument("--batch-size", type=int, default=None, metavar="N",
                       dest="batch_size",
                       help="samples in generated inputs (default 4; a fixed batch size "
                            "in the model wins)")
        p.add_argument("--batch", type=int, dest="batch_size", help=argparse.SUPPRESS)
        p.add_argument("--steps", type=int, default=8, metavar="T",
                       help="length of unknown time dimensions of generated inputs "
                            "(default 8)")
        p.add_argument("--seed", type=int, default=0, help="seed of generated inputs")

    p = sub.add_parser("info", parents=[common], help="describe a model: format, inputs, "
                       "outputs and layers",
                       description="Show the file format, the writing Keras version, the inputs "
                                   "and outputs (name, shape, dtype) and a layer table (name, "
                                   "class, output shape, parameters, key options).")
    model_args(p)
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("predict", parents=[common], help="run a model on inputs from a file",
                       description="Run MODEL on inputs from .npy (one input), .npz (one array "
                                   "per model input, named after the inputs or in/0, in/1, "
                                   "...), .json (an array, a list of arrays or an object by "
                                   "input name) or - (JSON on stdin). Outputs go to .npy (one "
                                   "output), .npz or .json (keyed by the model's output "
                                   "names), or to stdout as JSON. Memory: a .npy input to a "
                                   ".npy output streams (the input is memory-mapped and the "
                                   "output written as it goes), so memory holds one batch "
                                   f"(--batch-size, default {STREAM_BATCH} rows) of inputs, "
                                   "outputs and intermediates, whatever the file's size; "
                                   "other inputs and outputs are held whole in memory.")
    model_args(p)
    p.add_argument("--input", "-i", required=True, metavar="FILE",
                   help=".npy, .npz, .json or - for JSON on stdin")
    p.add_argument("--output", "-o", metavar="FILE", default=None,
                   help=".npy, .npz or .json (default: JSON on stdout)")
    p.add_argument("--batch-size", type=int, default=None, metavar="N", dest="batch_size",
                   help="run N samples at a time (a progress bar shows on a terminal)")
    p.add_argument("--batch", type=int, dest="batch_size", help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("verify", parents=[common],
                       help="compare with real Keras (or a golden file), layer by layer",
                       description="Run MODEL here and in real Keras (needs TensorFlow; Keras 3 "
                                   "for .keras, tf_keras then Keras 3 for .h5, tf_keras for "
                                   "SavedModel directories) on the same "
                                   "inputs, or compare with a golden file recorded by "
                                   "'golden' (no TensorFlow needed). Without --input, valid "
                                   "inputs are generated from the model's input specs. Prints "
                                   "a per-layer table and the first layer that diverges. Exit "
                                   "0 when everything matches, 1 on a mismatch, 2 when no "
                                   "reference is available. The default tolerance follows "
                                   "the model's compute dtype (1e-5 for float32, 2e-3 for "
                                   "float16 / mixed_float16) and is printed above the table.")
    model_args(p, keras=True)
    p.add_argument("--input", "-i", metavar="FILE", default=None,
                   help="inputs (.npy, .npz, .json or -); default: generated")
    p.add_argument("--golden", metavar="FILE", default=None,
                   help="an .npz from 'golden' (keys in/i, call0/out/j, layer/<name>/<j>); "
                        "compare with it instead of running Keras")
    p.add_argument("--atol", type=float, default=None,
                   help="absolute tolerance (default: 1e-5 for float32 models, 2e-3 for "
                        "float16 / mixed_float16 ones)")
    p.add_argument("--rtol", type=float, default=None,
                   help="relative tolerance (default as --atol); pass when |ours - keras| <= "
                        "atol + rtol * |keras|")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    gen_args(p)
    p.set_defaults(func=cmd_verify)

    p = sub.add_parser("golden", parents=[common],
                       help="record Keras's outputs (final and per layer) for CI without "
                            "TensorFlow",
                       description="Run MODEL in real Keras (needs TensorFlow) and write the "
                                   "inputs and Keras's outputs, final and per layer, to an .npz "
                                   "(keys in/i, call0/out/j, layer/<name>/<j>), for "
                                   "'verify MODEL --golden FILE' where TensorFlow is absent.")
    model_args(p, keras=True)
    p.add_argument("--out", "-o", required=True, metavar="FILE", help="the .npz to write")
    p.add_argument("--input", "-i", metavar="FILE", default=None,
                   help="inputs (.npy, .npz, .json or -); default: generated")
    gen_args(p)
    p.set_defaults(func=cmd_golden)

    p = sub.add_parser("demo", parents=[common],
                       help="run the bundled example model and check it against Keras",
                       description="Load the small GRU/LSTM model bundled with the package "
                                   "(trained with Keras 3 by tools/train_demo.py), predict, "
                                   "and compare with the outputs Keras recorded.")
    p.add_argument("--atol", type=float, default=1e-5, help=argparse.SUPPRESS)
    p.add_argument("--rtol", type=float, default=1e-5, help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_demo)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    from .errors import KerasRnnInferError
    try:
        return args.func(args, sys.stdout)
    except KeyboardInterrupt:
        sys.stderr.write(f"{PROG}: interrupted\n")
        return 130
    except BrokenPipeError:
        return EXIT_OK
    except (UsageError, KerasRnnInferError, OSError, ValueError, MemoryError) as e:
        if args.debug:
            raise
        sys.stderr.write(f"{PROG}: error: {_one_line(e)}\n")
        return EXIT_USAGE
    except Exception as e:  # an engine bug: still one line, ask for --debug
        if args.debug:
            raise
        sys.stderr.write(f"{PROG}: error: {type(e).__name__}: {_one_line(e)} "
                         f"(run with --debug for the traceback)\n")
        return EXIT_USAGE


def _one_line(e) -> str:
    msg = " ".join(str(e).split()) or type(e).__name__
    return msg if len(msg) <= 2000 else msg[:2000] + "..."


if __name__ == "__main__":
    sys.exit(main())
