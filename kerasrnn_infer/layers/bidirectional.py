"""Bidirectional(RNN): a forward copy and a backward (go_backwards) copy of one layer.

Keras ``layers/rnn/bidirectional.py``: both copies see the same inputs and mask; both have
``zero_output_for_mask`` forced to ``return_sequences``; the backward sequence is flipped back
before merging; ``initial_state`` is split in halves (forward first); weights are the forward
layer's then the backward layer's.
"""

from __future__ import annotations

import numpy as np

from ..errors import ConfigError, InputError
from .base import Layer, WeightNode, as_list
from .recurrent import RNN, split_call

_MERGES = ("concat", "sum", "mul", "ave", None)


class Bidirectional(Layer):
    streaming = "its backward half needs the whole sequence"

    def __init__(self, class_name, name, config, ctx):
        super().__init__(class_name, name, config, ctx)
        fwd_cfg = self.require("layer")
        bwd_cfg = self.opt("backward_layer")
        if not isinstance(fwd_cfg, dict) or not isinstance(fwd_cfg.get("config"), dict):
            raise ConfigError(f"{self.where}: 'layer' must be a serialized recurrent layer")
        self.merge_mode = self.config.get("merge_mode", "concat")
        if self.merge_mode not in _MERGES:
            self.refuse("merge_mode", self.merge_mode, "concat, sum, mul, ave, None")
        seq = fwd_cfg["config"].get("return_sequences", False)
        if not isinstance(seq, bool):
            raise ConfigError(f"{self.where}: return_sequences={seq!r:.100} of the wrapped "
                              f"layer must be true or false")
        fwd_cfg = _with(fwd_cfg, zero_output_for_mask=seq)
        if bwd_cfg is None:       # tf-keras: the backward layer is a copy, direction flipped
            go_back = fwd_cfg["config"].get("go_backwards", False)
            if not isinstance(go_back, bool):
                raise ConfigError(f"{self.where}: go_backwards={go_back!r:.100} of the wrapped "
                                  f"layer must be true or false")
            go_back = not go_back
            bwd_cfg = _with(fwd_cfg, go_backwards=go_back,
                            name="backward_" + str(fwd_cfg["config"].get("name", "")))
        elif not isinstance(bwd_cfg, dict) or not isinstance(bwd_cfg.get("config"), dict):
            raise ConfigError(f"{self.where}: 'backward_layer' must be a serialized layer")
        bwd_cfg = _with(bwd_cfg, zero_output_for_mask=seq)
        with ctx.nested(self.where):
            self.forward = ctx.build_layer(fwd_cfg)
            self.backward = ctx.build_layer(bwd_cfg)
        for part in (self.forward, self.backward):
            if not isinstance(part, RNN):
                raise ConfigError(f"{self.where}: wraps {part.class_name}, expected a recurrent "
                                  f"layer (SimpleRNN, LSTM, GRU, RNN)")
        if self.forward.return_sequences != self.backward.return_sequences:
            raise ConfigError(f"{self.where}: forward and backward layers disagree on "
                              f"return_sequences")
        self.return_sequences = self.forward.return_sequences
        self.return_state = self.forward.return_state
        self.stateful = self.forward.stateful or self.backward.stateful
        self.paired = False                 # set with the weights (build_weights)
        self.slots = self.forward.slots + self.backward.slots

    def weight_node(self) -> WeightNode:
        return WeightNode(self.class_name, [], [("forward_layer", self.forward.weight_node()),
                                                ("backward_layer", self.backward.weight_node())],
                          self.trainable, self)

    def build_weights(self, arrays):
        n = len(self.forward.slots)
        self.forward.set_weights(arrays[:n])
        self.backward.set_weights(arrays[n:])
        # both halves in one kernel call where the kernel can (the compiled one: a call
        # from Python is a sizeable part of a small layer's time), compiled now, at load
        fk, bk = self.forward.kernel, self.backward.kernel
        self.paired = (hasattr(fk, "pairs_with") and fk.pairs_with(bk) and
                       not self.forward.time_major and not self.backward.time_major)
        if self.paired:
            fk.warm_pair(bk)
            if self.embedding is not None:          # layers/containers.py Sequential
                fk.warm_embedded(self.embedding.dtype, self.embedding_ids)

    def run(self, inputs, mask, kwargs, ctx):
        return self.call(inputs, mask=mask, state_ctx=ctx, **kwargs), \
            self.compute_mask(inputs, mask)

    def call(self, inputs, mask=None, initial_state=None, training=None, state_ctx=None,
             **kwargs):
        x, states, mask = split_call(self, inputs, mask, initial_state, kwargs)
        fwd_states = bwd_states = None
        if states:
            if len(states) % 2:
                raise InputError(f"{self.where}: initial_state must hold the forward states "
                                 f"then the backward states, received {len(states)} tensors")
            half = len(states) // 2
            fwd_states, bwd_states = states[:half], states[half:]
        fwd, bwd = self.forward, self.backward
        if self.paired and not states and state_ctx is None:
            return self._pair(*fwd.checked(x, mask))
        y = as_list(fwd.call(x, mask=mask, initial_state=fwd_states, state_ctx=state_ctx))
        y_rev = as_list(bwd.call(x, mask=mask, initial_state=bwd_states, state_ctx=state_ctx))
        return self._merged(y, y_rev)

    def _pair(self, x, mask):
        """Both halves in one kernel call (``paired``) on a checked input, merged."""
        fwd, bwd = self.forward, self.backward
        (last, seq, final), (last_rev, seq_rev, final_rev) = fwd.kernel.run_pair(
            bwd.kernel, x, mask, (fwd.go_backwards, fwd.zero_output_for_mask),
            (bwd.go_backwards, bwd.zero_output_for_mask), self.return_sequences)
        return self._merged(as_list(fwd.outputs(last, seq, final)),
                            as_list(bwd.outputs(last_rev, seq_rev, final_rev)))

    def direct(self):
        """``Layer.direct``: both halves in one kernel call (``paired``), on an input as
        recurrent.RNN.direct takes it; one merged output."""
        if not self.paired or self.stateful or self.return_state or self.merge_mode is None:
            return super().direct()
        return self.forward.kernel.direct_pair(self.backward.kernel, self, self._direct), True

    def direct_ids(self, emb, general):
        return self.forward.kernel.direct_ids(self.backward.kernel, self, emb, general)

    def _direct(self, x, mask):
        x = self.forward.cast_input(x)
        if not self.forward.takes_as_is(x, mask):
            return self._run_plain(x, mask)             # its checks, its errors
        return self._pair(x, mask), (mask if self.return_sequences else None)

    @property
    def looks_up_rows(self):
        return self.paired and not self.stateful

    def run_embedded(self, ids, emb):
        """``run`` on the output of Embedding layer ``emb`` (recurrent.RNN.run_embedded),
        both halves in one call; None where the kernels cannot."""
        if not self.looks_up_rows:
            return None
        fwd, bwd = self.forward, self.backward
        res = fwd.kernel.run_pair_ids(bwd.kernel, ids, emb.table, emb.mask_zero,
                                      emb.out_of_range,
                                      (fwd.go_backwards, fwd.zero_output_for_mask),
                                      (bwd.go_backwards, bwd.zero_output_for_mask),
                                      self.return_sequences)
        if res is None:
            return None
        y = self._merged(as_list(fwd.outputs(*res[0])), as_list(bwd.outputs(*res[1])))
        mask = ids != 0 if emb.mask_zero and self.return_sequences else None
        return y, self.compute_mask(None, mask)

    def _merged(self, y, y_rev):
        """The layer's outputs from each half's."""
        out, out_rev = y[0], y_rev[0]
        if self.return_sequences:
            out_rev = out_rev[:, ::-1]
        mode = self.merge_mode
        if mode == "concat":
            merged = [np.concatenate([out, out_rev], axis=-1)]
        elif mode == "sum":
            merged = [out + out_rev]
        elif mode == "mul":
            merged = [out * out_rev]
        elif mode == "ave":
            merged = [(out + out_rev) / out.dtype.type(2)]
        else:
            merged = [out, np.ascontiguousarray(out_rev)]
        if self.return_state:
            return merged + y[1:] + y_rev[1:]
        return merged[0] if len(merged) == 1 else merged

    def compute_mask(self, inputs, mask):
        if isinstance(mask, (list, tuple)):
            mask = mask[0]
        out_mask = mask if self.return_sequences else None
        masks = [out_mask] * (2 if self.merge_mode is None else 1)
        if self.return_state:
            n = len(self.forward.state_sizes) + len(self.backward.state_sizes)
            masks += [None] * n
        return masks[0] if len(masks) == 1 else masks

    def describe(self):
        return f"merge_mode={self.merge_mode}, {self.forward.describe()}"


def _with(entry: dict, **changes) -> dict:
    out = dict(entry)
    out["config"] = dict(entry["config"], **changes)
    return out
