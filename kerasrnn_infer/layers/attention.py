"""Attention layers: Attention (Luong), AdditiveAttention (Bahdanau) and MultiHeadAttention.

Attention and AdditiveAttention take ``[query, value]`` or ``[query, value, key]`` (key
defaults to value) and the inputs' masks: only the query's and the value's count (Keras
ignores the key's). Masked value steps and, with ``use_causal_mask``, later steps get the
score minus 1e9 before the softmax; masked query steps get zero outputs (their weights are
left as they are); the output mask is the query's (Keras 3 ``layers/attention/attention.py``,
tf-keras ``layers/attention/base_dense_attention.py``).

MultiHeadAttention projects query, key and value with per-head einsum kernels (sublayers
``query_dense``, ``key_dense``, ``value_dense``, ``output_dense``; tf-keras saves them as
``_query_dense``...), scales the projected query by 1/sqrt(key_dim), takes the softmax over
the attention axes jointly and combines the heads with the output kernel. Its masks are the
ones the query, value and key tensors carry (``mask_args``), merged with ``attention_mask``
and the causal mask (``multi_head_attention.py`` ``_compute_attention_mask``). What a query
that may attend to nothing gets depends on the writer (compat.mha_softmax).
"""

from __future__ import annotations

import math
import string
from typing import List, Optional, Tuple

import numpy as np

from ..errors import ConfigError, InputError, UnsupportedError, WeightsError
from .base import Layer, WeightNode, WeightSlot, as_list


def _softmax(x: np.ndarray, axes: Tuple[int, ...]) -> np.ndarray:
    """Softmax over ``axes`` jointly: one axis as ``tf.nn.softmax``, several as
    ``exp(x - logsumexp(x))`` (both writers' Softmax layers)."""
    m = np.max(x, axis=axes, keepdims=True)
    if len(axes) == 1:
        e = np.exp(x - m)
        return e / np.sum(e, axis=axes, keepdims=True)
    lse = m + np.log(np.sum(np.exp(x - m), axis=axes, keepdims=True))
    return np.exp(x - lse)


def _large(dtype: np.dtype) -> float:
    """The bias Keras subtracts from masked scores (65504 is float16's largest value)."""
    return 65504.0 if dtype == np.float16 else 1.0e9


def _call_flag(layer: Layer, name: str, value) -> bool:
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise ConfigError(f"{layer.where}: call argument {name}={value!r:.80} must be true or false")


def _causal(tq: int, tv: int) -> np.ndarray:
    """Lower-triangular (1, Tq, Tv): query step i attends to value steps j <= i."""
    return (np.arange(tq)[:, None] >= np.arange(tv)[None, :])[None]


# ----- Attention, AdditiveAttention ------------------------------------------------------------
class _DenseAttention(Layer):
    supports_masking = True
    streaming = "it attends over the whole sequence"

    def __init__(self, *a):
        super().__init__(*a)
        self.use_scale = self.bool_opt("use_scale", self.class_name == "AdditiveAttention")
        self.dropout = self.float_opt("dropout", 0.0, minimum=0.0)   # inference: a no-op
        # tf.keras up to 2.9 stored a causal flag in the config (later a call argument)
        self.causal = self.bool_opt("causal", False)

    def inputs3(self, inputs):
        xs = [self.cast_input(np.asarray(x)) for x in as_list(inputs)]
        if not 2 <= len(xs) <= 3:
            raise InputError(f"{self.where}: expects [query, value] or [query, value, key], "
                             f"received {len(xs)} inputs")
        q, v = xs[0], xs[1]
        k = xs[2] if len(xs) > 2 else v
        if q.ndim < 3 or v.ndim != q.ndim or k.ndim != q.ndim or \
                v.shape[:-1] != k.shape[:-1] or q.shape[:-2] != v.shape[:-2]:
            raise InputError(f"{self.where}: expects query (batch, Tq, dim), value (batch, Tv, "
                             f"dim_v) and key (batch, Tv, dim); received shapes "
                             f"{[x.shape for x in xs]}")
        if q.shape[-1] != k.shape[-1]:
            raise InputError(f"{self.where}: query and key need the same last dimension; "
                             f"received {q.shape} and {k.shape}")
        return q, v, k

    def scores(self, q: np.ndarray, k: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def call(self, inputs, mask=None, training=None, return_attention_scores=False,
             use_causal_mask=False):
        q, v, k = self.inputs3(inputs)
        scored = _call_flag(self, "return_attention_scores", return_attention_scores)
        causal = _call_flag(self, "use_causal_mask", use_causal_mask) or self.causal
        masks = as_list(mask) if mask is not None else []
        q_mask = masks[0] if masks else None
        v_mask = masks[1] if len(masks) > 1 else None
        s = self.scores(q, k)
        keep = None
        if v_mask is not None:
            keep = self._mask(v_mask, v.shape[:-1], "value")[..., None, :]
        if causal:
            tri = _causal(s.shape[-2], s.shape[-1])
            keep = tri if keep is None else keep & tri
        if keep is not None:
            s = np.where(keep, s, s - s.dtype.type(_large(s.dtype)))
        w = _softmax(s, (-1,))
        out = np.matmul(w, v)
        if q_mask is not None:
            qm = self._mask(q_mask, q.shape[:-1], "query")[..., None]
            if self.ctx.compat.attention_query_mask == "where":
                out = np.where(qm, out, out.dtype.type(0))
            else:
                out = out * qm.astype(out.dtype)
        return [out, w] if scored else out

    def _mask(self, m, shape, what) -> np.ndarray:
        m = np.asarray(m)
        if m.shape != tuple(shape):
            raise InputError(f"{self.where}: the {what} mask has shape {m.shape}, expected "
                             f"{tuple(shape)}")
        return m.astype(bool)

    def run(self, inputs, mask, kwargs, ctx):
        out = self.call(inputs, mask=mask, **kwargs)
        masks = as_list(mask) if mask is not None else []
        q_mask = masks[0] if masks else None
        if isinstance(out, list):          # [output, scores]: only the output is masked
            return out, [q_mask, None]
        return out, q_mask

    def compute_mask(self, inputs, mask):
        masks = as_list(mask) if mask is not None else []
        return masks[0] if masks else None


class Attention(_DenseAttention):
    def __init__(self, *a):
        super().__init__(*a)
        self.score_mode = self.choice_opt("score_mode", "dot", ("dot", "concat"))
        self.scale: Optional[np.ndarray] = None
        self.concat_weight: Optional[np.ndarray] = None
        self.slots = []
        if self.use_scale:
            self.slots.append(WeightSlot("scale", ()))
        if self.score_mode == "concat":
            self.slots.append(WeightSlot("concat_score_weight", ()))

    def build_weights(self, arrays):
        it = iter(arrays)
        self.scale = np.asarray(next(it), self.dtype) if self.use_scale else None
        self.concat_weight = np.asarray(next(it), self.dtype) \
            if self.score_mode == "concat" else None

    def scores(self, q, k):
        if self.score_mode == "dot":
            s = np.matmul(q, np.swapaxes(k, -2, -1))
            return s * self.scale if self.scale is not None else s
        summed = q[..., :, None, :] + k[..., None, :, :]
        if self.scale is not None:          # Keras 3 and tf-keras: the scale inside the tanh
            summed = self.scale * summed
        return self.concat_weight * np.sum(np.tanh(summed), axis=-1)

    def describe(self):
        return f"score_mode={self.score_mode}" + (", use_scale" if self.use_scale else "")


class AdditiveAttention(_DenseAttention):
    def __init__(self, *a):
        super().__init__(*a)
        self.scale: Optional[np.ndarray] = None
        self.slots = [WeightSlot("scale", (None,))] if self.use_scale else []

    def build_weights(self, arrays):
        self.scale = np.asarray(arrays[0], self.dtype) if self.use_scale else None

    def scores(self, q, k):
        t = np.tanh(q[..., :, None, :] + k[..., None, :, :])
        if self.scale is not None:
            if self.scale.shape != (q.shape[-1],):
                raise InputError(f"{self.where}: scale has {self.scale.shape[0]} entries, the "
                                 f"query has {q.shape[-1]} features")
            t = self.scale * t
        return np.sum(t, axis=-1)

    def describe(self):
        return "use_scale" if self.use_scale else ""


# ----- MultiHeadAttention ----------------------------------------------------------------------
_PROJECTIONS = ("query", "key", "value", "attention_output")    # Keras's sublayer names


def _attention_equations(rank: int, attn_axes: Tuple[int, ...]) -> Tuple[str, str, int]:
    """Keras's einsum equations for projected tensors of ``rank`` (``(batch, <other axes>,
    <attention axes>, heads, channels)``): key-query dot product and combination
    (``multi_head_attention.py`` ``_build_attention_equation``, ported as is)."""
    letters = string.ascii_lowercase
    target = letters[:rank]
    batch_dims = tuple(i for i in range(rank) if i not in attn_axes + (rank - 1,))
    offset = rank
    source = ""
    for i in range(rank):
        if i in batch_dims or i == rank - 1:
            source += target[i]
        else:
            source += letters[offset]
            offset += 1
    product = "".join([target[i] for i in batch_dims] + [target[i] for i in attn_axes] +
                      [source[i] for i in attn_axes])
    return f"{source},{target}->{product}", f"{product},{source}->{target}", len(product)


class MultiHeadAttention(Layer):
    supports_masking = True
    streaming = "it attends over the whole sequence"
    call_args = ("query", "value", "key")
    mask_args = ("query", "value", "key")

    def __init__(self, *a):
        super().__init__(*a)
        self.heads = self.int_opt("num_heads", None)
        self.key_dim = self.int_opt("key_dim", None)
        if self.heads is None or self.key_dim is None:
            raise ConfigError(f"{self.where}: config needs num_heads and key_dim")
        self.value_dim = self.int_opt("value_dim", self.key_dim)
        self.dropout = self.float_opt("dropout", 0.0, minimum=0.0)    # inference: a no-op
        self.use_bias = self.bool_opt("use_bias", True)
        self.robust_masking = self.bool_opt("softmax_robust_masking", False)   # tf-keras
        self.clears_input_masks = self.ctx.compat.mha_clears_masks
        if self.bool_opt("use_gate", False):
            self.refuse("use_gate", True, "False")
        if self.opt("sliding_window") is not None:
            self.refuse("sliding_window", self.opt("sliding_window"), "None")
        if self.opt("flash_attention"):
            self.refuse("flash_attention", self.opt("flash_attention"), "None, False")
        out = self.opt("output_shape")
        if out is None or out == [] or out == ():
            self.out_dims: Optional[Tuple[int, ...]] = None
        else:
            self.out_dims = self.ints_opt("output_shape", None, len(out)
                                              if isinstance(out, (list, tuple)) else 1)
        axes = self.opt("attention_axes")
        self.attention_axes = None if axes is None else tuple(self.axes_opt("attention_axes",
                                                                            None))
        if self.attention_axes is not None:
            if any(a < 0 for a in self.attention_axes) and \
                    not self.ctx.compat.negative_attention_axes:
                self.refuse("attention_axes", list(self.attention_axes),
                            "non-negative axes (tf-keras does not count negative ones from "
                            "the end)")
            if len(set(self.attention_axes)) != len(self.attention_axes) or \
                    0 in self.attention_axes:
                raise ConfigError(f"{self.where}: attention_axes={list(self.attention_axes)} "
                                  f"must be distinct axes other than the batch axis")
        h, dk, dv = self.heads, self.key_dim, self.value_dim
        out_dims = self.out_dims or (None,)
        self.projections = {}
        for name, shape, bias in (("query", (None, h, dk), (h, dk)),
                                  ("key", (None, h, dk), (h, dk)),
                                  ("value", (None, h, dv), (h, dv)),
                                  ("attention_output", (h, dv) + tuple(out_dims),
                                   tuple(out_dims))):
            slots = [WeightSlot("kernel", shape)]
            if self.use_bias:
                slots.append(WeightSlot("bias", bias))
            self.projections[name] = slots
        self.slots = [s for name in _PROJECTIONS for s in self.projections[name]]

    def weight_node(self) -> WeightNode:
        """Own variables: none; the four einsum projections are sublayers, saved by Keras 3
        as ``query_dense``, ``key_dense``, ``value_dense``, ``output_dense`` (tf-keras:
        ``_query_dense``...); legacy HDF5 lists them flat, query to attention_output."""
        kids = [(attr, WeightNode("EinsumDense", self.projections[name], [], self.trainable))
                for attr, name in (("query_dense", "query"), ("key_dense", "key"),
                                   ("value_dense", "value"), ("output_dense", "attention_output"))]
        return WeightNode(self.class_name, [], list(kids), self.trainable, self)

    def set_weights(self, arrays):
        paths = getattr(arrays, "paths", None)
        if paths and len(paths) == len(arrays) and all(isinstance(p, str) for p in paths):
            arrays = self._by_name(list(arrays), paths)
        super().set_weights(arrays)

    def _by_name(self, arrays: List[np.ndarray], paths: List[str]) -> List[np.ndarray]:
        """Legacy HDF5 weights in query, key, value, attention_output order by their names
        (``mha/query/kernel:0``), whatever order the file lists them in."""
        want = [(p, s.name) for p in _PROJECTIONS for s in self.projections[p]]
        found = {}
        for arr, path in zip(arrays, paths):
            parts = path.split(":")[0].split("/")
            if len(parts) >= 2 and parts[-2] in _PROJECTIONS:
                found[(parts[-2], parts[-1])] = arr
        if set(found) != set(want):
            return arrays                       # not named the Keras way: keep the file order
        return [found[k] for k in want]

    def build_weights(self, arrays):
        it = iter(arrays)
        self.w = {}
        for name in _PROJECTIONS:
            kernel = np.asarray(next(it), self.dtype)
            bias = np.asarray(next(it), self.dtype) if self.use_bias else None
            self.w[name] = (kernel, bias)
        dq = self.w["query"][0].shape[0]
        if self.w["key"][0].shape[1:] != self.w["query"][0].shape[1:] or \
                self.w["attention_output"][0].shape[1] != self.value_dim:
            raise WeightsError(f"{self.where}: projection kernels of shapes "
                               f"{[self.w[n][0].shape for n in _PROJECTIONS]} do not fit "
                               f"num_heads={self.heads}, key_dim={self.key_dim}, "
                               f"value_dim={self.value_dim}")
        if self.out_dims is None and self.w["attention_output"][0].shape[2:] != (dq,):
            raise WeightsError(f"{self.where}: the output kernel has shape "
                               f"{self.w['attention_output'][0].shape}, expected "
                               f"({self.heads}, {self.value_dim}, {dq})")

    def _project(self, name: str, x: np.ndarray, contract: int = 1) -> np.ndarray:
        kernel, bias = self.w[name]
        if x.shape[-contract:] != kernel.shape[:contract]:
            raise InputError(f"{self.where}: the {name} projection expects (..., "
                             f"{', '.join(map(str, kernel.shape[:contract]))}), received "
                             f"{x.shape}")
        y = np.tensordot(x, kernel, axes=(list(range(x.ndim - contract, x.ndim)),
                                          list(range(contract))))
        if bias is not None:
            y += bias
        return y

    def call(self, inputs, mask=None, value=None, key=None, attention_mask=None,
             return_attention_scores=False, training=None, use_causal_mask=False,
             query_mask=None, value_mask=None, key_mask=None):
        query = self.cast_input(np.asarray(inputs))
        if value is None:
            raise InputError(f"{self.where}: called without a value tensor")
        value = self.cast_input(np.asarray(value))
        key_given = key is not None
        key = self.cast_input(np.asarray(key)) if key_given else value
        scored = _call_flag(self, "return_attention_scores", return_attention_scores)
        causal = _call_flag(self, "use_causal_mask", use_causal_mask)
        if query.ndim < 3 or value.ndim != query.ndim or key.ndim != query.ndim or \
                value.shape[:-1] != key.shape[:-1] or value.shape[0] != query.shape[0]:
            raise InputError(f"{self.where}: expects query (batch, ..., dim), value and key "
                             f"(batch, ..., dim) of the same rank, value and key equal but "
                             f"for the last axis; received {query.shape}, {value.shape}, "
                             f"{key.shape}")
        rank = query.ndim + 1                     # projected: (..., heads, dim)
        axes = self._axes(rank)
        for i in range(1, query.ndim - 1):        # the non-attention axes must match
            if i not in axes and query.shape[i] != value.shape[i]:
                raise InputError(f"{self.where}: query {query.shape} and value {value.shape} "
                                 f"differ on axis {i}, which is not an attention axis")
        allowed = self._allowed(query, value, query_mask, value_mask,
                                key_mask if key_given else None, attention_mask, causal)
        q = self._project("query", query)
        k = self._project("key", key)
        v = self._project("value", value)
        dot_eq, combine_eq, score_rank = _attention_equations(rank, axes)
        inv = 1.0 / math.sqrt(float(self.key_dim))
        compat = self.ctx.compat.mha_softmax
        fused = compat == "keras3" and self.dropout == 0.0 and not scored and rank == 4
        if fused:       # Keras 3 ops.dot_product_attention: scale the logits
            s = np.einsum(dot_eq, k, q, optimize=True) * q.dtype.type(inv)
        else:           # the Softmax path (and tf-keras): scale the query
            s = np.einsum(dot_eq, k, q * q.dtype.type(inv), optimize=True)
        norm_axes = tuple(range(score_rank - len(axes), score_rank))
        if allowed is not None:
            m = allowed
            while m.ndim < s.ndim:
                m = np.expand_dims(m, axis=-len(axes) * 2 - 1)
            try:
                m = np.broadcast_to(m, s.shape)
            except ValueError:
                raise InputError(f"{self.where}: attention mask of shape {allowed.shape} does "
                                 f"not fit the attention scores {s.shape}") from None
            w = self._masked_softmax(s, m, norm_axes, fused, compat)
        else:
            w = _softmax(s, norm_axes)
        out = self._project("attention_output", np.einsum(combine_eq, w, v, optimize=True),
                            contract=2)
        return [out, w] if scored else out

    def _axes(self, rank: int) -> Tuple[int, ...]:
        if self.attention_axes is None:
            return tuple(range(1, rank - 2))
        axes = tuple(a if a >= 0 else (rank - 1) + a for a in self.attention_axes)
        if any(not 1 <= a < rank - 2 for a in axes):
            raise InputError(f"{self.where}: attention_axes={list(self.attention_axes)} do not "
                             f"fit inputs of rank {rank - 1}")
        return axes

    def _allowed(self, query, value, q_mask, v_mask, k_mask, attention_mask, causal):
        """The boolean (B, T, S) mask of ``_compute_attention_mask`` (None: attend to all)."""
        auto = None
        for m, shape, where, what in ((q_mask, query.shape[:2], -1, "query"),
                                      (v_mask, value.shape[:2], -2, "value"),
                                      (k_mask, value.shape[:2], -2, "key")):
            if m is None:
                continue
            m = np.asarray(m)
            if query.ndim != 3 or m.shape != tuple(shape):
                raise UnsupportedError(f"{self.where}: a {what} mask of shape {m.shape} on "
                                       f"inputs of shape {query.shape}; supported: masks "
                                       f"(batch, steps) on 3-D inputs")
            m = np.expand_dims(m.astype(bool), where)
            auto = m if auto is None else auto & m
        if causal:
            if query.ndim != 3:        # Keras builds a (1, T, S) mask that fits no other rank
                raise UnsupportedError(f"{self.where}: use_causal_mask on inputs of shape "
                                       f"{query.shape}; supported: 3-D inputs (Keras fails "
                                       f"on others too)")
            tri = _causal(query.shape[1], value.shape[1])
            auto = tri if auto is None else auto & tri
        if attention_mask is not None:
            am = np.asarray(attention_mask)
            if am.dtype.kind not in "biuf":
                raise InputError(f"{self.where}: attention_mask has dtype {am.dtype}, "
                                 f"expected booleans")
            am = am.astype(bool)
            return am if auto is None else am & auto
        return auto

    def _masked_softmax(self, s, m, axes, fused, compat):
        dt = s.dtype.type
        if fused:                          # Keras 3 dot_product_attention: -0.7 * max float
            big = 65500.0 if s.dtype == np.float16 else 3.38953e38
            return _softmax(np.where(m, s, dt(-0.7 * big)), axes)
        if compat == "keras3":             # Keras 3 Softmax layer: masked weights are zeroed
            w = _softmax(np.where(m, s, dt(-3e4 if s.dtype == np.float16 else -1e9)), axes)
            return np.where(m, w, dt(0))
        neg = dt(-1e9) if s.dtype != np.float16 else dt(np.finfo(np.float16).min / 2)
        if self.robust_masking:            # tf-keras softmax_robust_masking
            return _softmax(np.where(m, s, neg), axes)
        return _softmax(s + (1.0 - m.astype(s.dtype)) * neg, axes)

    def run(self, inputs, mask, kwargs, ctx):
        out = self.call(inputs, mask=mask, **kwargs)
        q_mask = kwargs.get("query_mask")
        if isinstance(out, list):
            return out, [q_mask, None]
        return out, q_mask

    def compute_mask(self, inputs, mask):
        return None

    def describe(self):
        return f"heads={self.heads}, key_dim={self.key_dim}"
