"""SimpleRNN, LSTM, GRU and RNN(cell | [cells]) layers: config -> cell specs -> a kernel.

The layer reads its options and its cells' configs into ``cells.CellSpec``s, takes the cells'
weights (``kernel``, ``recurrent_kernel``, ``bias`` per cell, as Keras stores them under
``cell`` or ``cell/cells/<cell>``), and runs them with the kernel ``kernels.recurrent_kernel``
gives; time options (direction, sequences, states, masks, time_major) live here.
"""

from __future__ import annotations

from typing import List

import numpy as np

from .. import activations
from ..cells import CellSpec, CellWeights
from ..errors import ConfigError, InputError, UnsupportedError
from ..kernels import recurrent_kernel
from .base import Layer, WeightNode, WeightSlot, as_list

_KINDS = {"SimpleRNNCell": "simple_rnn", "LSTMCell": "lstm", "GRUCell": "gru"}
_LAYER_CELL = {"SimpleRNN": "SimpleRNNCell", "LSTM": "LSTMCell", "GRU": "GRUCell"}
_SLOT_NAMES = ("kernel", "recurrent_kernel", "bias")


def _unwrap(obj, where):
    """(class_name, config) of a serialized Keras object."""
    if not isinstance(obj, dict) or not isinstance(obj.get("class_name"), str):
        raise ConfigError(f"{where}: expected a serialized Keras cell, received {obj!r:.200}")
    cfg = obj.get("config") or {}
    if not isinstance(cfg, dict):
        raise ConfigError(f"{where}: the {obj['class_name']} config must be an object")
    return obj["class_name"], cfg


def split_call(layer, inputs, mask, initial_state, kwargs):
    """(sequence, initial states, sequence mask) of a recurrent call. Keras 2 passes initial
    states as extra inputs ``[x, *states]``, Keras 3 as ``initial_state``."""
    if kwargs:
        raise UnsupportedError(f"{layer.where}: call arguments {sorted(kwargs)} are not "
                               f"supported; supported: initial_state, mask, training")
    items = as_list(inputs)
    x, states = items[0], items[1:]
    if initial_state is not None:
        states = as_list(initial_state)
    if isinstance(mask, (list, tuple)):
        mask = mask[0]
    return x, states, mask


class _CellOptions(Layer):
    """The typed option readers of a layer, over a cell's own config (``RNN(cell)``)."""

    def __init__(self, layer: Layer, cfg: dict):      # noqa: D107 - no Layer.__init__
        self.class_name, self.name, self.ctx, self.config = \
            layer.class_name, layer.name, layer.ctx, cfg


class RNN(Layer):
    """Any recurrent layer: ``specs`` hold the maths of its cell(s), ``kernel`` runs them."""

    def __init__(self, class_name, name, config, ctx):
        super().__init__(class_name, name, config, ctx)
        if class_name in _LAYER_CELL:
            self.cell_classes = [_LAYER_CELL[class_name]]
            self.stacked = False
            self.specs = [self._spec(_LAYER_CELL[class_name], config)]
        else:
            self.specs = self._cell_specs(self.require("cell"))
        self.return_sequences = self.bool_opt("return_sequences", False)
        self.return_state = self.bool_opt("return_state", False)
        self.go_backwards = self.bool_opt("go_backwards", False)
        self.time_major = self.bool_opt("time_major", False)
        self.zero_output_for_mask = self.bool_opt("zero_output_for_mask", False)
        self.stateful = self.bool_opt("stateful", False)
        self.unroll = self.bool_opt("unroll", False)      # the same maths either way
        for key in ("constants",):
            if self.opt(key):
                self.refuse(key, self.opt(key), "none")
        self.cell_slots = [[WeightSlot(n, s) for n, s in zip(_SLOT_NAMES, spec.weight_shapes())]
                           for spec in self.specs]
        self.slots = [s for slots in self.cell_slots for s in slots]
        self.kernel = None
        self.cell_weights: List[CellWeights] = []

    # ----- config -----------------------------------------------------------------------------
    def _cell_specs(self, spec) -> List[CellSpec]:
        """The cells of ``RNN(cell)``, ``RNN([cells])`` or ``RNN(StackedRNNCells)``."""
        self.stacked = isinstance(spec, list)
        specs = spec if self.stacked else [spec]
        if not self.stacked and _unwrap(spec, self.where)[0] == "StackedRNNCells":
            self.stacked, specs = True, _unwrap(spec, self.where)[1].get("cells")
            if not isinstance(specs, list) or not specs:
                raise ConfigError(f"{self.where}: StackedRNNCells config has no 'cells' list")
        if len(specs) > 1024:
            raise ConfigError(f"{self.where}: {len(specs)} stacked cells; at most 1024 are read")
        self.cell_classes, out = [], []
        for s in specs:
            cls, cfg = _unwrap(s, self.where)
            if cls not in _KINDS:
                raise UnsupportedError(f"{self.where}: cell class {cls!r} is not supported; "
                                       f"supported: {', '.join(sorted(_KINDS))}")
            self.cell_classes.append(cls)
            out.append(self._spec(cls, cfg))
        return out

    def _spec(self, cls: str, cfg: dict) -> CellSpec:
        where = self.where
        opts = _CellOptions(self, cfg)
        units = opts.int_opt("units", None)
        if units is None:
            raise ConfigError(f"{where}: config has no 'units'")
        act = activations.get(cfg.get("activation", "tanh"), self.ctx.compat,
                              f"{where} activation")
        kind = _KINDS[cls]
        ract = None
        if kind != "simple_rnn":
            ract = activations.get(cfg.get("recurrent_activation",
                                           self.ctx.compat.default_recurrent_activation),
                                   self.ctx.compat, f"{where} recurrent_activation")
        reset_after = opts.bool_opt("reset_after", False) if kind == "gru" else False
        return CellSpec(kind, units, act, ract, opts.bool_opt("use_bias", True), reset_after,
                        self.dtype)

    # ----- weights ----------------------------------------------------------------------------
    def weight_node(self) -> WeightNode:
        nodes = [WeightNode(cls, slots) for cls, slots in zip(self.cell_classes,
                                                               self.cell_slots)]
        cell = WeightNode("StackedRNNCells", [], [("cells", nodes)]) if self.stacked \
            else nodes[0]
        return WeightNode(self.class_name, [], [("cell", cell)], self.trainable, self)

    def build_weights(self, arrays):
        weights, k = [], 0
        for spec, slots in zip(self.specs, self.cell_slots):
            weights.append(CellWeights.of(spec, arrays[k:k + len(slots)]))
            k += len(slots)
        for prev, w in zip(self.specs, weights[1:]):
            if w.features != prev.units:
                raise ConfigError(f"{self.where}: stacked cell kernel has {w.features} input "
                                  f"rows, the previous cell outputs {prev.units}")
        self.cell_weights = weights
        self.kernel = recurrent_kernel(self.specs, weights, self.ctx.jit, self.where)
        if self.embedding is not None and hasattr(self.kernel, "warm_embedded"):
            # containers.Sequential
            self.kernel.warm_embedded(self.embedding.dtype, self.embedding_ids)

    @property
    def input_features(self) -> int:
        return self.cell_weights[0].features

    @property
    def state_sizes(self) -> List[int]:
        return [s for spec in self.specs for s in spec.state_sizes]

    # ----- maths ------------------------------------------------------------------------------
    def run(self, inputs, mask, kwargs, ctx):
        return self.call(inputs, mask=mask, state_ctx=ctx, **kwargs), \
            self.compute_mask(inputs, mask)

    def call(self, inputs, mask=None, initial_state=None, training=None, state_ctx=None,
             **kwargs):
        x, states, mask = split_call(self, inputs, mask, initial_state, kwargs)
        x, mask = self.checked(x, mask)
        batch = x.shape[0]
        if states:
            sizes = self.state_sizes
            if len(states) != len(sizes):
                raise InputError(f"{self.where}: expects {len(sizes)} initial state tensors, "
                                 f"received {len(states)}")
            init = []
            for k, (s, size) in enumerate(zip(states, sizes)):
                s = np.asarray(s)
                if s.shape != (batch, size):
                    raise InputError(f"{self.where}: initial state {k} must have shape "
                                     f"({batch}, {size}), received {s.shape}")
                init.append(s.astype(self.dtype, copy=False))
        else:
            init = None
        prev_output = None
        if state_ctx is not None:
            init, prev_output = state_ctx.initial(self, batch, init)
        last, seq, final = self.kernel.run(x, init, mask, self.go_backwards,
                                           self.return_sequences, self.zero_output_for_mask,
                                           prev_output)
        if state_ctx is not None:
            state_ctx.save(self, final, last)
        return self.outputs(last, seq, final)

    def run_embedded(self, ids, emb):
        """``run`` on the output of Embedding layer ``emb`` for ``ids`` (its ``ids_for_kernel``)
        without making it, where the kernel can look the rows up itself (``run_ids``); None
        where it cannot (then: ``emb``, then ``run``). No initial states, no state
        context."""
        if not self.looks_up_rows:
            return None
        res = self.kernel.run_ids(ids, emb.table, emb.mask_zero, emb.out_of_range,
                             self.go_backwards, self.return_sequences, self.zero_output_for_mask)
        if res is None:
            return None
        mask = ids != 0 if emb.mask_zero and self.return_sequences else None
        return self.outputs(*res), self.compute_mask(None, mask)

    def direct(self):
        """``Layer.direct``: the kernel's ``run`` on an input ``checked`` would pass as it is
        (``takes_as_is``; not time-major), without initial states; quiet with the compiled
        kernel."""
        if self.stateful or self.time_major or self.return_state:
            return super().direct()
        if hasattr(self.kernel, "direct"):              # compiled: the common call in a frame
            return self.kernel.direct(self, self._direct), True
        return self._direct, self.kernel.quiet

    def direct_ids(self, emb, general):
        return self.kernel.direct_ids(None, self, emb, general)

    def takes_as_is(self, x, mask) -> bool:
        """Whether ``x`` (cast) and ``mask`` pass ``checked`` as they are: rank 3, the
        layer's features, the mask (or None) of x's (batch, time)."""
        return x.ndim == 3 and x.shape[2] == self.input_features and (
            mask is None or mask.shape == x.shape[:2])

    def _direct(self, x, mask):
        x = self.cast_input(x)
        if not self.takes_as_is(x, mask):
            return self._run_plain(x, mask)             # its checks, its errors
        last, seq, _ = self.kernel.run(x, None, mask, self.go_backwards,
                                       self.return_sequences, self.zero_output_for_mask)
        return (seq, mask) if self.return_sequences else (last, None)

    @property
    def looks_up_rows(self):
        return not (self.time_major or self.stateful) and hasattr(self.kernel, "run_ids")

    def checked(self, x, mask):
        """(x, mask) checked against the layer and cast, batch-major."""
        x = self.cast_input(np.asarray(x))
        if x.ndim != 3:
            raise InputError(f"{self.where}: expects input of rank 3 (batch, time, features), "
                             f"received shape {x.shape}")
        if self.time_major:
            x = x.swapaxes(0, 1)
            if mask is not None:
                mask = np.asarray(mask).swapaxes(0, 1)
        if x.shape[2] != self.input_features:
            raise InputError(f"{self.where}: expects {self.input_features} input features, "
                             f"received shape {x.shape}")
        if mask is not None:
            mask = np.asarray(mask, bool)
            if mask.shape != x.shape[:2]:
                raise InputError(f"{self.where}: mask shape {mask.shape} does not match input "
                                 f"shape {x.shape}")
        return x, mask

    def outputs(self, last, seq, final):
        """The layer's outputs from its kernel's results."""
        out = seq if self.return_sequences else last
        if self.time_major and self.return_sequences:
            out = out.swapaxes(0, 1)
        return [out, *final] if self.return_state else out

    def compute_mask(self, inputs, mask):
        if isinstance(mask, (list, tuple)):
            mask = mask[0]
        out_mask = mask if self.return_sequences else None
        if self.return_state:
            return [out_mask] + [None] * len(self.state_sizes)
        return out_mask

    def stream_block(self):
        return "go_backwards needs the whole sequence" if self.go_backwards else None

    def describe(self):
        opts = [f"units={self.specs[-1].units}"]
        for key in ("return_sequences", "return_state", "go_backwards", "stateful", "unroll"):
            if getattr(self, key, False):
                opts.append(key)
        return ", ".join(opts)

