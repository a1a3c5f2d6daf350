"""The public model: ``load_model``, ``model_from_json`` and ``Model`` (predict, step,
layer outputs, weights, description). No file format code lives here: files are read by
``formats``, layers built by the registry in ``layers``, and graphs run by ``executor``."""

from __future__ import annotations

import json
import os
import sys
import time
import weakref
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from . import limits
from ._locks import ForkSafeLock
from .compat import Compat
from .dtypes import as_strings, is_string
from .errors import (ArgumentError, ConfigError, InputError, KerasRnnInferError, ModelFileError,
                     UnsupportedError)
from .executor import run_direct
from .graph import pack_outputs, unpack_outputs
from .formats import assign_weights, read_model_file
from .kernels import jit_setting
from .layers import build_layer
from .layers.base import BuildContext, Layer
from .layers.containers import Container, Functional, TensorSpec
from .streaming import StatefulStore, StreamContext, StreamState, check_streamable


def _model_config(obj: Any, source: str) -> dict:
    if not isinstance(obj, dict) or not isinstance(obj.get("class_name"), str):
        raise ConfigError(f"{source}: the model config must be an object with a 'class_name', "
                          f"received {str(obj)[:200]}")
    if obj["class_name"] not in ("Sequential", "Functional", "Model"):
        raise UnsupportedError(
            f"{source}: the model class {obj['class_name']!r} is not supported; supported: "
            f"Sequential, Functional, Model (subclassed models have no layer graph in the file)")
    return obj


#: What predict takes: an array (one input), a list in model input order, or a dict by name.
Inputs = Union[np.ndarray, Sequence[Any], Dict[str, Any]]
#: What predict gives: an array for a one-output model, else a list in Keras's output order.
Outputs = Union[np.ndarray, List[np.ndarray]]
#: A Keras shape: a tuple (None for unknown sizes) for one tensor, a list of them for several.
Shape = Union[Optional[Tuple[Optional[int], ...]], List[Optional[Tuple[Optional[int], ...]]]]


def _keras_shape(shapes: List[Any]) -> Shape:
    """Keras's convention: one tensor's shape as a tuple, several as a list of tuples."""
    shapes = [None if s is None else tuple(s) for s in shapes]
    return shapes[0] if len(shapes) == 1 else shapes


class _Subgraph:
    """The part of a Functional graph that computes some of its outputs (``predict(x,
    outputs=...)``): the plan's nodes those outputs depend on, in plan order."""

    def __init__(self, graph, positions: List[int]):
        self.where = graph.where
        self.input_keys = graph.input_keys
        self.output_keys = [graph.output_keys[p] for p in positions]
        needed = {k[:2] for k in self.output_keys}
        plan = []
        for node in reversed(graph.plan):
            if (node.layer.name, node.call) not in needed:
                continue
            plan.append(node)
            for ref in _refs([node.inputs, node.kwargs]):
                needed.add((ref.layer, ref.node))
        self.plan = plan[::-1]


def _refs(obj):
    from .graph import Ref, leaves
    return [r for r in leaves(obj) if isinstance(r, Ref)]


def _shape_ok(arr: np.ndarray, fixed, any_length: bool) -> bool:
    """Whether ``arr`` has the rank and fixed sizes ``fixed`` (``Model._fixed``: rank and
    (axis, size) pairs, None when the spec has no shape); ``any_length`` frees axis 1."""
    if fixed is None:
        return True
    if arr.ndim != fixed[0]:
        return False
    for k, d in fixed[1]:
        if arr.shape[k] != d and not (any_length and k == 1):
            return False
    return True


class Model:
    """A loaded Keras model, run in NumPy. Use :func:`load_model` or :func:`model_from_json`."""

    def __init__(self, root: Container, ctx: BuildContext, source_format: str = "json",
                 config: Optional[dict] = None):
        self._root = root
        self._ctx = ctx
        self._config = config
        self.format = source_format
        self.keras_version = ctx.keras_version
        self._states = StatefulStore()
        self._stateful = any(getattr(n.layer, "stateful", False)
                             for n in root.weight_node().walk())
        self._lock = ForkSafeLock()
        self._shapes: Optional[Dict[str, Any]] = None
        self._streamable: Any = None
        self._subgraphs: Dict[Tuple[int, ...], _Subgraph] = {}
        # the input specs, and per input the sizes predict checks (axis, size) after the
        # batch axis: fixed at load, so that a call does not rebuild them
        self._specs: List[TensorSpec] = list(root.input_specs)
        self._fixed = [None if s.shape is None else
                       (len(s.shape), tuple((k, d) for k, d in enumerate(s.shape) if k and
                                            d is not None)) for s in self._specs]
        #: where the model came from, for real Keras (testing.assert_matches_keras(model)):
        #: {"path": file} or {"json": text}, with "weights" after load_weights
        self._origin: Dict[str, Any] = {}
        provider = weakref.WeakMethod(self._layer_io_shapes)
        for l in self.layers:
            l.__dict__["_io_shapes"] = provider       # read by Layer.input_shape

    # ----- structure -------------------------------------------------------------------------
    @property
    def name(self) -> str:
        """The model's name, as Keras saved it."""
        return self._root.name

    @property
    def layers(self) -> List[Layer]:
        """The top-level layers in Keras's order (a Functional model's InputLayers included,
        as in Keras; a nested model is one layer holding its own ``layers``)."""
        return list(self._root.layers)

    def get_layer(self, name: Optional[str] = None, index: Optional[int] = None) -> Layer:
        """The top-level layer called ``name``, or at position ``index`` in ``layers``
        (negative counts from the end), as Keras's ``get_layer``. Raises
        :class:`ArgumentError`, which is also a ``ValueError`` as in Keras, naming the
        layers there are."""
        if (name is None) == (index is None):
            raise ArgumentError("get_layer: give a layer name or an index, not both "
                                "(nor neither)")
        if index is not None:
            if isinstance(index, bool) or not isinstance(index, (int, np.integer)) or \
                    not -len(self.layers) <= index < len(self.layers):
                raise ArgumentError(f"get_layer: index {index!r} is out of range; the model "
                                    f"has {len(self.layers)} layers")
            return self.layers[index]
        for l in self.layers:
            if l.name == name:
                return l
        names = [l.name for l in self.layers]
        shown = ", ".join(names[:50]) + (f", ... {len(names) - 50} more" if len(names) > 50
                                         else "")
        raise ArgumentError(f"get_layer: no layer named {name!r}; layers: {shown}")

    @property
    def inputs(self) -> List[TensorSpec]:
        """One :class:`TensorSpec` (name, shape with None for the batch and unknown sizes,
        dtype) per model input, in Keras's input order."""
        return list(self._specs)

    @property
    def input_names(self) -> List[str]:
        """The model inputs' names, in order (the keys ``predict`` takes in a dict)."""
        return [s.name for s in self.inputs]

    @property
    def input_shape(self) -> Shape:
        """Keras's ``model.input_shape``: a tuple such as ``(None, 50, 8)`` for a one-input
        model, a list of tuples for several (None where the file does not fix a size)."""
        return _keras_shape([s.shape for s in self.inputs])

    @property
    def output_shape(self) -> Shape:
        """Keras's ``model.output_shape``: a tuple for a one-output model, a list of tuples
        for several; sizes that depend on the inputs (batch, unknown lengths) are None.
        Found by two small dry runs the first time it is asked for; None where they fail."""
        return _keras_shape([s.shape for s in self.outputs])

    @property
    def output_names(self) -> List[str]:
        """One unique name per model output, in Keras's output order: the name of the layer
        that computes it, with ``/j`` (the tensor's index among that call's outputs, as in
        ``layer_outputs(x)[layer][j]``) when the model outputs a tensor other than the first
        of the call or several tensors of it, and ``@k`` when the call is not the layer's
        first (shared layers). The CLI and golden files use these names."""
        return self._root.output_names()

    @property
    def outputs(self) -> List[TensorSpec]:
        """One :class:`TensorSpec` per model output (name from ``output_names``; shape and
        dtype from two small dry runs, None where they cannot be found)."""
        shapes = self._infer_shapes()
        outs = shapes.get("__outputs__") if shapes else None
        return [TensorSpec(n, outs[i][0] if outs else None, outs[i][1] if outs else None)
                for i, n in enumerate(self.output_names)]

    def _input_consumers(self, index: int) -> List[Layer]:
        """The layers that read model input ``index`` directly (inside nested models too)."""
        return self._root.consumers(index)

    @property
    def stateful(self) -> bool:
        """Whether any layer is ``stateful=True`` (states carry over between calls)."""
        return self._stateful

    def count_params(self) -> int:
        """The number of weight values (trainable and not), as Keras's ``count_params``."""
        return self._root.count_params()

    def get_weights(self) -> List[np.ndarray]:
        """Copies of every weight array, in Keras's ``model.get_weights()`` order."""
        return self._root.get_weights()

    @property
    def weights(self) -> list:
        """Every weight as a :class:`~kerasrnn_infer.layers.base.Weight` (``name``,
        ``path``, ``shape``, ``dtype``, ``trainable``, ``numpy()``), in ``get_weights``
        order, as Keras's ``model.weights``."""
        return [w for l in self._root.weighted_layers() for w in l.weights]

    def to_json(self, **kwargs: Any) -> str:
        """The architecture as JSON, as Keras's ``to_json``: the model config as the file
        holds it, with the Keras version it is run as (``keras_version``, which decides
        version-dependent maths); ``model_from_json`` reads it back. ``kwargs`` go to
        ``json.dumps`` (``indent=2``...)."""
        if self._config is None:
            raise KerasRnnInferError(f"model {self.name!r}: built without a config")
        obj = dict(self._config)
        obj["keras_version"] = self.keras_version
        return json.dumps(obj, **kwargs)

    # ----- weights ---------------------------------------------------------------------------
    def load_weights(self, path: Union[str, os.PathLike]) -> "Model":
        """Load weights from a Keras 3 ``.weights.h5``, a legacy ``save_weights`` HDF5 file,
        the weights inside a full ``.keras`` / ``.h5`` model file or SavedModel directory, a
        TF-format checkpoint by its prefix (``save_weights("ckpt/w")`` wrote ``ckpt/w.index``
        and ``ckpt/w.data-*``) or a ``ModelCheckpoint`` directory (the checkpoint its
        ``checkpoint`` file names as the latest)."""
        src = read_model_file(path)
        assign_weights(self._root, src)
        # the direct path's one-frame steps hold the kernels they were made for (new weights:
        # new kernels, which those steps hand to the layers' general steps): made again
        vars(self._root).pop("direct_path", None)
        self._states.clear()
        if isinstance(path, (str, os.PathLike)):
            self._origin["weights"] = os.fspath(path)
            self._origin["weights_format"] = src.format
        else:
            self._origin = {}           # bytes: no file real Keras could read
        return self

    # ----- travelling: bytes and pickles -----------------------------------------------------
    def to_bytes(self) -> bytes:
        """The model as bytes: a ``.keras`` archive holding its config as loaded, the Keras
        version it was loaded as, and its weights. ``kri.load_model(data)`` (or a file object)
        reads it back through the same safe reader as any file, so bytes from elsewhere are
        as safe as files. States of stateful layers are not included (they start from zeros);
        custom layers are not either: pass the same ``custom_objects`` when loading."""
        if self._config is None:
            raise KerasRnnInferError(f"model {self.name!r}: built without a config, so it "
                                     f"cannot be written")
        from .formats.keras3 import write_zip
        return write_zip(self._root, self._config, self.keras_version)

    def _stateful_layers(self) -> List[Layer]:
        return [n.layer for n in self._root.weight_node().walk()
                if n.layer is not None and getattr(n.layer, "stateful", False)]

    def __reduce__(self):
        """A pickle is plain data: the model's bytes (``to_bytes``), the Keras version, the
        custom layers' factories by reference (importable where it is unpickled, as pickle
        does for functions) and the states of stateful layers; per-thread buffers and caches
        are rebuilt on the other side."""
        import pickle
        for key, factory in self._ctx.custom_objects.items():
            try:
                pickle.dumps(factory)
            except Exception as e:  # noqa: BLE001 - lambdas, local functions, closures
                raise UnsupportedError(
                    f"model {self.name!r}: the custom_objects factory for {key!r} ({factory!r}) "
                    f"cannot be pickled ({type(e).__name__}: {e}); define it at module level "
                    f"in a module the other side can import") from None
        with self._lock:
            index = {id(l): k for k, l in enumerate(self._stateful_layers())}
            states = {index[i]: [s.copy() for s in v] for i, v in self._states.states.items()
                      if i in index}
        state = {"bytes": self.to_bytes(), "custom_objects": dict(self._ctx.custom_objects),
                 "keras_version": self.keras_version, "format": self.format,
                 "states": states, "jit": self._ctx.jit}
        return _unpickle, (state,)

    def reset_states(self) -> None:
        """Zero the states of stateful layers (Keras ``model.reset_states()``)."""
        with self._lock:
            self._states.clear()

    # ----- running ---------------------------------------------------------------------------
    def _feeds(self, x, any_length: bool = False) -> List[np.ndarray]:
        """Inputs as arrays in model order, cast and checked against the input specs.
        ``any_length`` (streaming chunks) leaves axis 1, the time axis, unchecked."""
        specs = self._specs
        if type(x) is np.ndarray and len(specs) == 1 and x.dtype == specs[0].dtype and \
                _shape_ok(x, self._fixed[0], any_length):
            return [x]                          # the common call: one array, as expected
        if isinstance(x, dict):
            names = [s.name for s in specs]
            unknown = sorted((k for k in x if k not in names), key=repr)
            missing = [n for n in names if n not in x]
            if unknown or missing:
                raise InputError(f"model {self.name!r}: inputs by name must be exactly "
                                 f"{names}; missing {missing}, unknown {unknown}")
            items = [x[n] for n in names]
        elif isinstance(x, (list, tuple)) and (len(specs) > 1 or (
                x and all(isinstance(i, np.ndarray) for i in x))):
            items = list(x)          # one array per model input (nested lists are one array)
        else:
            items = [x]
        if len(items) != len(specs):
            raise InputError(f"model {self.name!r} expects {len(specs)} inputs "
                             f"({', '.join(s.name for s in specs)}), received {len(items)}")
        out = []
        for spec, fixed, item in zip(specs, self._fixed, items):
            try:
                arr = np.asarray(item)
            except (ValueError, TypeError) as e:
                raise InputError(f"model {self.name!r}: input {spec.name!r} is not an array "
                                 f"(ragged nested lists?): {e}") from None
            if is_string(spec.dtype):
                arr = as_strings(arr, f"model {self.name!r}: input {spec.name!r}")
            elif arr.dtype.kind not in "fiub":
                raise InputError(f"model {self.name!r}: input {spec.name!r} has dtype "
                                 f"{arr.dtype}, expected numbers")
            else:
                with np.errstate(invalid="ignore"):     # NaN to ints: as layers/core.py _ids
                    arr = arr.astype(spec.dtype, copy=False)
            if not _shape_ok(arr, fixed, any_length):
                want = "(" + ", ".join("None" if d is None else str(d)
                                       for d in spec.shape or ()) + ")"
                raise InputError(f"model {self.name!r}: input {spec.name!r} expects shape "
                                 f"{want}, received {arr.shape}")
            out.append(arr)
        if len({a.shape[0] if a.ndim else -1 for a in out}) > 1:
            raise InputError(f"model {self.name!r}: inputs have different batch sizes "
                             f"{[a.shape[0] for a in out]}")
        return out

    def _run(self, feeds, collect=None, ctx=None, graph=None):
        # NaN and Inf propagate silently, as in Keras (errstate is thread- and context-local)
        run = self._root.run_model
        if graph is not None:                         # predict(outputs=...): a subgraph
            from .executor import run_plan

            def run(f, c, x):
                return run_plan(graph, f, c, x)
        with np.errstate(all="ignore"):
            if ctx is not None:
                return run([(a, None) for a in feeds], collect, ctx)
            if self._stateful:
                with self._lock:
                    return run([(a, None) for a in feeds], collect, self._states)
            return run([(a, None) for a in feeds], collect, None)

    def _select(self, outputs: Any) -> Tuple[Optional[_Subgraph], bool]:
        """``predict(outputs=...)``: the subgraph computing them, and whether one was named
        alone (a single array is returned)."""
        names = self.output_names
        single_out = isinstance(outputs, (str, int, np.integer))
        wanted = [outputs] if single_out else list(outputs)
        if not wanted:
            raise ArgumentError("predict: outputs=[] selects no output; the model's outputs: "
                                f"{names}")
        positions = []
        for o in wanted:
            if isinstance(o, str) and o in names:
                positions.append(names.index(o))
            elif isinstance(o, (int, np.integer)) and not isinstance(o, bool) and \
                    -len(names) <= o < len(names):
                positions.append(int(o) % len(names))
            else:
                raise ArgumentError(f"predict: outputs={outputs!r}: {o!r} is not an output of "
                                    f"model {self.name!r}; its outputs: {names} (or their "
                                    f"indices 0..{len(names) - 1}); layer_outputs(x) gives "
                                    f"every layer's output")
        if not isinstance(self._root, Functional) or positions == list(range(len(names))):
            return None, single_out
        key = tuple(positions)
        sub = self._subgraphs.get(key)
        if sub is None:
            sub = self._subgraphs[key] = _Subgraph(self._root.graph, positions)
        return sub, single_out

    def predict(self, x: Inputs, batch_size: Optional[int] = None, verbose: Any = None,
                steps: Any = None, callbacks: Any = None, max_queue_size: Any = 10,
                workers: Any = 1, use_multiprocessing: Any = False, *,
                outputs: Any = None) -> Outputs:
        """Outputs for ``x`` (array, list in model input order, or dict by input name): an
        array for a one-output model, else a list in Keras's output order (a model made with
        a dict or nested lists of outputs: that dict or those lists, as Keras returns them).

        ``batch_size``: run that many samples at a time (default: all at once); a stateful
        model with a fixed batch size runs a multiple of it chunk by chunk, in order, states
        passing from chunk to chunk (Keras's ``predict(x, batch_size=fixed)``).
        ``verbose``: 1 or "auto" draws a progress bar on stderr, updated per batch; 2 prints
        one line when done; 0 or None (the default) prints nothing.
        ``outputs``: compute only some outputs (names from ``output_names`` or indices; a
        list gives a list, one name gives an array), running only the layers they need, as
        onnxruntime's ``run(output_names, ...)``; every model input is still given.
        ``max_queue_size``, ``workers``, ``use_multiprocessing`` (tf-keras's data-loading
        options) are accepted and have no effect; ``steps`` and ``callbacks`` are refused
        with :class:`ArgumentError`: x is arrays here, and no callbacks run."""
        direct = self._root.direct_path
        silent = verbose is None or verbose is False or (type(verbose) is int and verbose == 0)
        if (direct is not None and type(x) is np.ndarray and outputs is None and silent and
                batch_size is None and steps is None and callbacks is None and
                not self._stateful and x.dtype == self._specs[0].dtype and
                _shape_ok(x, self._fixed[0], False)):
            # the plain call (one array, as the model expects it): the direct path
            # (executor.direct_plan), without the general path's checks and loops
            y = run_direct(direct, x)
            if y is not None:
                return self._nested([y])
        if steps is not None:
            raise ArgumentError(f"predict: steps={steps!r} counts the batches Keras draws from "
                                f"a dataset or generator; kerasrnn_infer takes arrays: pass "
                                f"the samples to predict (x[:steps * batch_size])")
        if callbacks:
            raise ArgumentError("predict: callbacks are not supported (kerasrnn_infer runs no "
                                "training loop and calls no hooks); call predict per batch and "
                                "do the work around it")
        if verbose not in (None, 0, 1, 2, "auto", False, True):
            raise ArgumentError(f"predict: verbose={verbose!r} must be 0, 1, 2 or 'auto'")
        sub, single_out = (None, False) if outputs is None else self._select(outputs)
        feeds = self._feeds(x)
        n = feeds[0].shape[0] if feeds and feeds[0].ndim else 0
        step = None
        if self._stateful:
            fixed = self.inputs[0].shape[0] if self.inputs[0].shape else None
            if fixed is not None and n != fixed:
                if n % fixed:
                    raise InputError(f"model {self.name!r} is stateful with batch size {fixed}; "
                                     f"received {n} samples, not a multiple of it")
                step = fixed
        elif batch_size is not None:
            if not isinstance(batch_size, int) or batch_size <= 0:
                raise InputError(f"predict: batch_size={batch_size!r} must be a positive integer")
            step = batch_size if batch_size < n else None
        # no progress object at all when silent (the common call: a batch-1 predict is tens
        # of microseconds)
        bar = _Progress(1 if step is None else -(-n // step), verbose) if verbose else None
        if step is None:
            outs = [o for o, _ in self._run(feeds, graph=sub)]
            if bar:
                bar.update(1)
        else:
            parts = []
            for k, i in enumerate(range(0, n, step)):
                parts.append([o for o, _ in self._run([f[i:i + step] for f in feeds],
                                                      graph=sub)])
                if bar:
                    bar.update(k + 1)
            outs = [np.concatenate([p[j] for p in parts], axis=0) for j in range(len(parts[0]))]
        if bar:
            bar.close()
        if single_out:
            return outs[0]
        if outputs is not None and not isinstance(outputs, (str, int, np.integer)):
            return outs
        return self._nested(outs)

    def _flat(self, y: Outputs) -> Outputs:
        """A ``predict`` result as the package's own readers take it (the CLI, the scoring
        workers, the parity check): an array for one output, else a list in
        ``output_names`` order, whatever nesting the model returns."""
        nest = self._root.output_structure
        if nest is None:
            return y
        flat: List[Any] = [None] * len(self.output_names)
        unpack_outputs(nest, y, flat)
        return flat[0] if len(flat) == 1 else flat

    def _nested(self, outs: List[Any]) -> Outputs:
        """Outputs as Keras returns them: one array, a list, or the dict or nested lists the
        model was made with (Functional ``output_structure``)."""
        nest = self._root.output_structure
        if nest is not None:
            return pack_outputs(nest, outs)
        return outs[0] if len(outs) == 1 else outs

    def __call__(self, x: Inputs, training: Any = None, mask: Any = None) -> Outputs:
        """``model(x)``: the same as ``predict(x)`` (``training`` is accepted: inference
        only)."""
        if mask is not None:
            raise ArgumentError("model(x, mask=...): masks come from the model's own layers "
                                "(Masking, Embedding mask_zero); pass the inputs only")
        return self.predict(x)

    def predict_on_batch(self, x: Inputs) -> Outputs:
        """Outputs for ``x`` computed as one batch, as Keras's ``predict_on_batch``."""
        return self.predict(x)

    def step(self, x: Inputs, state: Optional[StreamState] = None
             ) -> Tuple[Outputs, StreamState]:
        """Feed the next chunk of a stream: ``outputs, state = model.step(chunk, state)``.

        ``chunk`` is (batch, t, ...) with any t >= 1; ``state`` is None at the start of a
        stream, then what the previous step returned. Chunked outputs equal the whole
        sequence's: sequence outputs come slice by slice, last-step outputs are the value
        after the chunk's last step. The state belongs to the caller, so one model serves
        many streams, from many threads. Models that need the whole sequence (go_backwards,
        Bidirectional, convolutions, pooling, ...) raise UnsupportedError."""
        if self._streamable is None:
            self._streamable = check_streamable(self._root)
        if self._streamable is not True:
            raise UnsupportedError(str(self._streamable))
        feeds = self._feeds(x, any_length=True)
        ctx = StreamContext(id(self), state, feeds[0].shape[0] if feeds[0].ndim else 0)
        outs = [o for o, _ in self._run(feeds, None, ctx)]
        return self._nested(outs), ctx.state()

    def layer_outputs(self, x: Inputs) -> Dict[str, Any]:
        """``{layer name: output}`` for every layer of the model (first call of shared ones);
        multi-output layers give a list."""
        collect: Dict[str, Any] = {}
        self._run(self._feeds(x), collect)
        return collect

    # ----- description -----------------------------------------------------------------------
    def _infer_shapes(self):
        """Output shapes from two dry runs with different sizes for unknown dimensions."""
        if self._shapes is not None:
            return self._shapes
        runs = []
        for size in (2, 3):
            feeds = []
            for spec in self.inputs:
                if spec.shape is None:
                    return {}
                shape = tuple(size if d is None else d for d in spec.shape)
                if np.prod(shape, dtype=float) > 1e7:
                    return {}      # absurd declared shapes: describe without shapes
                feeds.append(np.zeros(shape, spec.dtype))
            collect: Dict[str, Any] = {}
            try:
                outs = self._root.run_model([(a, None) for a in feeds], collect, StatefulStore())
            except KerasRnnInferError:
                return {}
            collect["__outputs__"] = [o for o, _ in outs]
            runs.append(collect)

        def merge(a, b):
            if isinstance(a, list):
                return [merge(x, y) for x, y in zip(a, b)]
            return tuple(p if p == q else None for p, q in zip(np.shape(a), np.shape(b)))

        shapes = {k: merge(runs[0][k], runs[1][k]) for k in runs[0]}
        shapes["__outputs__"] = [(s, o.dtype) for s, o in
                                 zip(shapes["__outputs__"], runs[0]["__outputs__"])]
        self._shapes = shapes
        return shapes

    def _layer_io_shapes(self) -> Dict[str, Tuple[Any, Any]]:
        """``{layer name: (input shape, output shape)}`` of the top-level layers' first calls
        (Keras conventions: a tuple, or a list for several tensors; None where unknown)."""
        shapes = self._infer_shapes()
        if not shapes:
            return {}
        out: Dict[str, Tuple[Any, Any]] = {}

        def tensor(name, j):
            s = shapes.get(name)
            if s is None:
                return None
            return s[j] if isinstance(s, list) else (s if j == 0 else None)

        if isinstance(self._root, Functional):
            for node in self._root.graph.plan:
                name = node.layer.name
                if node.layer.is_op or node.call or name in out:
                    continue
                ins = [tensor(r.layer, r.tensor) if r.node == 0 else None
                       for r in _refs(node.inputs)]
                out[name] = (_keras_shape(ins) if ins else None, shapes.get(name))
            for spec in self.inputs:
                out.setdefault(spec.name, (spec.shape, spec.shape))
        else:
            prev = self.inputs[0].shape
            for l in self.layers:
                out[l.name] = (prev, shapes.get(l.name))
                prev = shapes.get(l.name)
        return out

    def summary(self, print_fn: Callable[[str], Any] = print) -> None:
        """Print the layer table (name and class, output shape, parameters, key options) and
        the parameter count through ``print_fn``, as Keras's ``summary``."""
        shapes = self._infer_shapes()
        rows = [("Layer (type)", "Output shape", "Params", "Options")]
        for l in self.layers:
            shp = shapes.get(l.name, "?")
            rows.append((f"{l.name} ({l.class_name})", str(shp), str(l.count_params()),
                         l.describe()))
        widths = [max(len(r[i]) for r in rows) for i in range(4)]
        line = "  ".join("-" * w for w in widths)
        print_fn(f'Model: "{self.name}"  (Keras {self.keras_version}, {self.format})')
        print_fn(line)
        for k, r in enumerate(rows):
            print_fn("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
            if k == 0:
                print_fn(line)
        print_fn(line)
        print_fn(f"Total params: {self.count_params()}")

    def __repr__(self) -> str:
        n, k = len(self.layers), len(self.inputs)
        return (f"<kerasrnn_infer.Model {self.name!r}: {n} layer{'s' if n != 1 else ''}, "
                f"{k} input{'s' if k != 1 else ''}, Keras {self.keras_version}>")


class _Progress:
    """``predict(verbose=...)``: 1 draws a bar on stderr updated per batch, 2 one line at the
    end, 0 nothing (Keras's ``verbose``)."""

    def __init__(self, total: int, verbose: Any):
        self.total = total
        self.mode = 1 if verbose in (1, True, "auto") else 2 if verbose == 2 else 0
        self.start = time.monotonic()

    def _line(self, done: int) -> str:
        dt = time.monotonic() - self.start
        return f"{done}/{self.total} - {dt:.1f}s - {dt * 1e3 / max(done, 1):.0f}ms/step"

    def update(self, done: int) -> None:
        if self.mode == 1:
            bar = "=" * (20 * done // max(self.total, 1))
            sys.stderr.write(f"\r[{bar:<20}] {self._line(done)}")
            sys.stderr.flush()

    def close(self) -> None:
        if self.mode == 1:
            sys.stderr.write("\n")
        elif self.mode == 2:
            sys.stderr.write(self._line(self.total) + "\n")
        if self.mode:
            sys.stderr.flush()


# ----- entry points -------------------------------------------------------------------------------
def _build(obj: Any, source: str, custom_objects, keras_version: Optional[str],
           fmt: str, jit: Optional[bool] = None) -> Model:
    jit_setting(jit)                                   # a bad argument or variable: now
    cfg = _model_config(obj, source)
    ctx = BuildContext(source=source, compat=Compat.resolve(keras_version, cfg),
                       custom_objects=dict(custom_objects or {}), build=build_layer, jit=jit)
    root = build_layer(cfg, ctx)
    if not isinstance(root, Container):
        raise ConfigError(f"{source}: the top-level object is a {root.class_name}, not a model")
    return Model(root, ctx, fmt, cfg)


def load_model(path: Union[str, os.PathLike, bytes, Any],
               custom_objects: Optional[Dict[str, Callable]] = None,
               keras_version: Optional[str] = None, compile: Any = None,
               jit: Optional[bool] = None, safe_mode: Any = True) -> Model:
    """Load a full Keras model: a ``.keras`` archive or a legacy HDF5 file (by content), given
    as a path, as bytes holding the file (``Model.to_bytes()``) or as a binary file object;
    or a TensorFlow SavedModel directory written by tf.keras / tf-keras ``model.save("dir")``.

    ``keras_version`` overrides the version recorded in the file; it decides version-dependent
    maths such as ``hard_sigmoid``. ``compile`` is accepted for Keras compatibility and ignored
    (nothing here trains). ``safe_mode`` (Keras 3's switch for deserializing lambdas) is
    accepted, True or False, and changes nothing: code from a file never runs here either way
    (a ``Lambda`` layer is refused unless ``custom_objects`` gives a NumPy version). ``jit``:
    the compiled recurrent kernel (``pip install kerasrnn-infer[jit]``): None follows
    ``KERASRNN_INFER_JIT`` (default ``auto``: used when numba is installed), True requires it,
    False uses NumPy only. Its kernels are compiled (or read from numba's disk cache) here,
    not in the first ``predict``."""
    if not isinstance(safe_mode, bool):
        raise ArgumentError(f"load_model: safe_mode={safe_mode!r} must be True or False")
    src = read_model_file(path)
    if src.config is None:
        raise ModelFileError(f"{src.path}: holds weights only ({src.format}); build the model "
                             f"with model_from_json(text) and call load_weights on it (command "
                             f"line: --architecture MODEL.json)")
    version = keras_version or src.keras_version
    if src.format == "keras-zip" and isinstance(src.config, dict):
        version = version or "3"
    model = _build(src.config, src.path, custom_objects, version, src.format, jit)
    assign_weights(model._root, src)
    if isinstance(path, (str, os.PathLike)):
        model._origin = {"path": os.fspath(path)}
    return model


def model_from_json(json_text: Union[str, bytes],
                    custom_objects: Optional[Dict[str, Callable]] = None,
                    keras_version: Optional[str] = None, jit: Optional[bool] = None) -> Model:
    """Build a model from ``model.to_json()`` text; then call ``load_weights``. ``jit`` as
    for ``load_model``."""
    obj = limits.parse_json(json_text, ConfigError, "<json>", "the model JSON")
    version = keras_version or (obj.get("keras_version") if isinstance(obj, dict) else None)
    model = _build(obj, "<json>", custom_objects, version, "json", jit)
    model._origin = {"json": json_text if isinstance(json_text, str)
                     else bytes(json_text).decode("utf-8", "replace")}
    return model


def _unpickle(state: dict) -> Model:
    model = load_model(state["bytes"], custom_objects=state["custom_objects"],
                       keras_version=state["keras_version"], jit=state.get("jit"))
    model.format = state["format"]
    layers = model._stateful_layers()
    for k, arrays in state["states"].items():
        model._states.states[id(layers[k])] = [np.array(a) for a in arrays]
    return model
