"""ConvLSTM1D, ConvLSTM2D, ConvLSTM3D: config -> a ``conv_lstm`` cell spec -> the kernel.

Inputs are (batch, time, *spatial, channels) (channels_first: (batch, time, channels,
*spatial)); states and outputs have the input convolution's spatial shape and ``filters``
channels. The maths is in ``cells.conv_lstm_step`` (reference) and ``kernels.numpy_rnn``
(``ConvLSTMRecurrent``); time options (direction, sequences, states, stateful, masks) are
the ones of every recurrent layer (KERAS_FACTS_WIDE "ConvLSTM1D/2D/3D").

Masks: a (batch, time) mask keeps whole samples' states at masked steps; Keras's Masking on
a (batch, time, *spatial, channels) input gives a per-pixel (batch, time, *spatial) mask,
with which each pixel keeps its own states (Keras's TensorFlow loop tiles the mask over the
channels), where the states have the input's spatial shape.
"""

from __future__ import annotations

from typing import List

import numpy as np

from .. import activations
from ..cells import CellSpec, CellWeights, ConvSpec
from ..errors import ConfigError, InputError, UnsupportedError
from ..kernels import recurrent_kernel
from .base import Layer, WeightNode, WeightSlot
from .convolutional import _rank_class
from .recurrent import RNN, split_call

_SLOT_NAMES = ("kernel", "recurrent_kernel", "bias")


class ConvLSTM(Layer):
    rank = 2

    def __init__(self, class_name, name, config, ctx):
        super().__init__(class_name, name, config, ctx)
        r, w = self.rank, self.where
        self.require("filters")
        self.require("kernel_size")
        self.filters = self.int_opt("filters")
        conv = ConvSpec(self.ints_opt("kernel_size", None, r), self.ints_opt("strides", 1, r),
                        self.choice_opt("padding", "valid", ("valid", "same")),
                        self.ints_opt("dilation_rate", 1, r))
        self.channels_first = self.choice_opt("data_format", "channels_last", (
            "channels_last", "channels_first")) == "channels_first"
        act = activations.get(config.get("activation", "tanh"), ctx.compat, f"{w} activation")
        ract = activations.get(config.get("recurrent_activation",
                                          ctx.compat.conv_lstm_recurrent_activation),
                               ctx.compat, f"{w} recurrent_activation")
        self.spec = CellSpec("conv_lstm", self.filters, act, ract,
                             self.bool_opt("use_bias", True), False, self.dtype, conv)
        self.return_sequences = self.bool_opt("return_sequences", False)
        self.return_state = self.bool_opt("return_state", False)
        self.go_backwards = self.bool_opt("go_backwards", False)
        self.stateful = self.bool_opt("stateful", False)
        self.zero_output_for_mask = self.bool_opt("zero_output_for_mask", False)
        self.unroll = self.bool_opt("unroll", False)      # the same maths either way
        self.cell_slots = [WeightSlot(n, s) for n, s in zip(_SLOT_NAMES,
                                                             self.spec.weight_shapes())]
        self.slots = list(self.cell_slots)
        self.kernel = None
        if conv.strides != (1,) * r and conv.dilation != (1,) * r:
            raise ConfigError(f"{w}: strides={conv.strides} and dilation_rate="
                              f"{conv.dilation} cannot both be above 1 (as in Keras)")

    # ----- weights ----------------------------------------------------------------------------
    def weight_node(self) -> WeightNode:
        cell = WeightNode("ConvLSTMCell", self.cell_slots)
        return WeightNode(self.class_name, [], [("cell", cell)], self.trainable, self)

    def build_weights(self, arrays):
        self.cell_weights = CellWeights.of(self.spec, arrays)
        if self.cell_weights.recurrent_kernel.shape[-1] != 4 * self.filters:
            raise ConfigError(f"{self.where}: recurrent_kernel has "
                              f"{self.cell_weights.recurrent_kernel.shape[-1]} columns, "
                              f"expected {4 * self.filters}")
        self.kernel = recurrent_kernel([self.spec], [self.cell_weights])

    @property
    def state_sizes(self) -> List[int]:
        return self.spec.state_sizes

    # ----- layout -----------------------------------------------------------------------------
    def _last(self, a: np.ndarray, axis: int) -> np.ndarray:
        """channels_first ``a`` with its channel ``axis`` moved last (no-op channels_last)."""
        return np.moveaxis(a, axis, -1) if self.channels_first else a

    def _first(self, a: np.ndarray, axis: int) -> np.ndarray:
        return np.ascontiguousarray(np.moveaxis(a, -1, axis)) if self.channels_first else a

    # ----- maths ------------------------------------------------------------------------------
    run = RNN.run           # the same call path (state context, output mask) as RNN's

    def call(self, inputs, mask=None, initial_state=None, training=None, state_ctx=None,
             **kwargs):
        x, states, mask = split_call(self, inputs, mask, initial_state, kwargs)
        x = self.cast_input(np.asarray(x))
        r, w = self.rank, self.where
        if x.ndim != r + 3:
            raise InputError(f"{w}: expects input of rank {r + 3} (batch, time, "
                             f"{'channels, ' if self.channels_first else ''}{r} spatial axes"
                             f"{'' if self.channels_first else ', channels'}), received shape "
                             f"{x.shape}")
        received = x.shape
        x = self._last(x, 2)
        cin = self.cell_weights.features
        if x.shape[-1] != cin:
            raise InputError(f"{w}: expects {cin} input channels, received shape {received}")
        out_spatial = self.spec.conv.out_shape(x.shape[2:-1])
        if min(out_spatial) <= 0:
            raise InputError(f"{w}: frames of input shape {received} are smaller than the "
                             f"kernel span")
        batch = x.shape[0]
        want = (batch, *out_spatial, self.filters)
        init = None
        if states:
            if len(states) != 2:
                raise InputError(f"{w}: expects 2 initial state tensors (h, c), received "
                                 f"{len(states)}")
            init = []
            for k, s in enumerate(states):
                s = self._last(np.asarray(s), 1)
                if s.shape != want:
                    shown = want if not self.channels_first else \
                        (batch, self.filters, *out_spatial)
                    raise InputError(f"{w}: initial state {k} must have shape {shown}, "
                                     f"received {np.shape(states[k])}")
                init.append(s.astype(self.dtype, copy=False))
        prev_output = None
        if state_ctx is not None:
            init, prev_output = state_ctx.initial(self, batch, init)
        if init is None:
            init = [np.zeros(want, self.dtype) for _ in range(2)]
        if mask is not None:
            mask = self._mask(np.asarray(mask, bool), x, out_spatial, received)
        last, seq, final = self.kernel.run(x, init, mask, self.go_backwards,
                                           self.return_sequences, self.zero_output_for_mask,
                                           prev_output)
        if state_ctx is not None:
            state_ctx.save(self, final, last)
        out = self._first(seq, 2) if self.return_sequences else self._first(last, 1)
        return [out, *(self._first(s, 1) for s in final)] if self.return_state else out

    def _mask(self, mask, x, out_spatial, received):
        w = self.where
        if mask.shape == x.shape[:2]:
            return mask
        if mask.shape[:2] != x.shape[:2]:
            raise InputError(f"{w}: mask shape {mask.shape} does not match input shape "
                             f"{received}")
        if self.channels_first:
            raise UnsupportedError(f"{w}: a mask of shape {mask.shape} (per position, from "
                                   f"Masking) on a channels_first input is not supported; "
                                   f"supported: (batch, time) masks, per-pixel masks on "
                                   f"channels_last inputs")
        if mask.shape[2:] != tuple(out_spatial) or mask.shape[2:] != x.shape[2:-1]:
            raise UnsupportedError(f"{w}: a per-pixel mask of shape {mask.shape} needs states "
                                   f"of the input's spatial shape {x.shape[2:-1]}, the "
                                   f"convolution makes {tuple(out_spatial)} (Keras 3 refuses "
                                   f"it too); supported: 'same' padding, strides 1")
        return mask

    def compute_mask(self, inputs, mask):
        if isinstance(mask, (list, tuple)):
            mask = mask[0]
        out_mask = mask if self.return_sequences else None
        if self.return_state:
            return [out_mask, None, None]
        return out_mask

    def stream_block(self):
        return "go_backwards needs the whole sequence" if self.go_backwards else None

    def describe(self):
        cs = self.spec.conv
        opts = [f"filters={self.filters}", f"kernel={cs.kernel_size}", f"padding={cs.padding}"]
        for key in ("return_sequences", "return_state", "go_backwards", "stateful"):
            if getattr(self, key, False):
                opts.append(key)
        return ", ".join(opts)


ConvLSTM1D = _rank_class(ConvLSTM, 1, "ConvLSTM1D")
ConvLSTM2D = _rank_class(ConvLSTM, 2, "ConvLSTM2D")
ConvLSTM3D = _rank_class(ConvLSTM, 3, "ConvLSTM3D")
