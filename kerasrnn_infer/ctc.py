"""CTC decoding of a CRNN's per-timestep outputs, as Keras decodes them.

Two conventions, because the two Keras versions differ:

- :func:`ctc_decode` is ``tf.keras.backend.ctc_decode`` (tf-keras, Keras 2): ``y_pred`` is a
  softmax; it decodes ``log(y_pred + 1e-7)``; the blank is the last class; beam search merges
  repeated labels of a beam (``tf.compat.v1.nn.ctc_beam_search_decoder``, merge_repeated
  True). Returns ``([top_paths arrays (batch, time) of int64, padded with -1], log_prob
  (batch, top_paths))``.
- :func:`ctc_decode_keras3` is ``keras.ops.ctc_decode`` (Keras 3, TensorFlow backend):
  ``inputs`` are used as given (logits); the blank is ``mask_index`` (0 by default);
  ``strategy`` "greedy" or "beam_search" (which never merges a beam's repeats,
  ``tf.nn.ctc_beam_search_decoder``). Returns ``(decoded (top_paths, batch, time) int32
  padded with -1, scores (batch, top_paths))``.

The scores are TensorFlow's: greedy gives ``-sum_t max_c input[t, c]`` (a positive number for
log-probabilities); beam search gives each beam's log-score accumulated over steps from the
inputs minus their per-step maximum (TensorFlow's ``CTCBeamSearchDecoder::Step`` subtracts
``max_coeff`` and never normalises), so the best beam of a peaked sequence scores near 0.

Beam search follows TensorFlow's ``ctc_beam_search.h`` step by step (a prefix tree of beams,
blank/label/total log-probabilities per beam, the beam kept as the ``beam_width`` best
totals, new children only while they beat the worst kept beam), so it returns the paths and
scores TensorFlow returns, in float64 arithmetic (TensorFlow: the input dtype).
"""

from __future__ import annotations

import heapq
import itertools
import math
from typing import List, Optional, Sequence, Tuple

import numpy as np

from .errors import InputError, UnsupportedError

__all__ = ["ctc_decode", "ctc_decode_keras3"]

_EPSILON = np.float32(1e-7)          # tf-keras backend.epsilon()
_NEG_INF = -math.inf


def ctc_decode(y_pred, input_length, greedy: bool = True, beam_width: int = 100,
               top_paths: int = 1) -> Tuple[List[np.ndarray], np.ndarray]:
    """``tf.keras.backend.ctc_decode(y_pred, input_length, greedy, beam_width, top_paths)``.

    ``y_pred``: (batch, time, classes) softmax outputs, the last class the blank;
    ``input_length``: (batch,) steps to decode per sample. Returns ``(decoded, log_prob)``:
    ``decoded`` a list (one per path; one when ``greedy``) of (batch, time) int64 arrays of
    labels padded with -1, ``log_prob`` (batch, top_paths) float32 (greedy: (batch, 1),
    ``-sum_t max_c log(y_pred + 1e-7)``)."""
    y, lengths = _check(y_pred, input_length, "ctc_decode")
    y = np.log(y.astype(np.float32, copy=False) + _EPSILON)
    if greedy:
        paths, scores = _greedy(y, lengths, y.shape[2] - 1, merge_repeated=True)
        return [_dense(paths, y.shape[:2], np.int64)], scores
    _check_beam(beam_width, top_paths, "ctc_decode")
    paths, scores = _beams(y, lengths, beam_width, top_paths, merge_repeated=True)
    return [_dense(p, y.shape[:2], np.int64) for p in paths], scores


def ctc_decode_keras3(inputs, sequence_lengths, strategy: str = "greedy", beam_width: int = 100,
                      top_paths: int = 1, merge_repeated: bool = True,
                      mask_index: Optional[int] = 0) -> Tuple[np.ndarray, np.ndarray]:
    """``keras.ops.ctc_decode(inputs, sequence_lengths, strategy, beam_width, top_paths,
    merge_repeated, mask_index)`` of Keras 3 (TensorFlow backend).

    ``inputs``: (batch, time, classes) logits (used as given); ``mask_index``: the blank
    class (None: the last). Returns ``(decoded, scores)``: (top_paths, batch, time) int32
    labels padded with -1 (greedy: one path), and (batch, top_paths) float32 scores
    (greedy: ``-sum_t max_c inputs``)."""
    y, lengths = _check(inputs, sequence_lengths, "ctc_decode_keras3")
    y = y.astype(np.result_type(y.dtype, np.float32), copy=False)
    classes = y.shape[2]
    if strategy == "greedy":
        blank = classes - 1 if mask_index is None else int(mask_index)
        if not -classes <= blank < classes:
            raise InputError(f"ctc_decode_keras3: mask_index={mask_index} is outside "
                             f"[-{classes}, {classes - 1}]")
        paths, scores = _greedy(y, lengths, blank % classes, bool(merge_repeated))
        return _dense(paths, y.shape[:2], np.int32)[None], scores
    if strategy != "beam_search":
        raise InputError(f"ctc_decode_keras3: strategy={strategy!r} is not supported; "
                         f"supported: greedy, beam_search")
    _check_beam(beam_width, top_paths, "ctc_decode_keras3")
    if mask_index is not None and int(mask_index) % classes == classes - 1 and \
            int(mask_index) < 0:
        raise UnsupportedError(
            f"ctc_decode_keras3: mask_index={mask_index} with strategy='beam_search' is not "
            f"supported: Keras 3 moves the blank column with inputs[..., mask_index + 1:], "
            f"which for -1 is every column, so its beams hold duplicated classes and its "
            f"labels depend on how TensorFlow orders tied beams; supported: "
            f"mask_index={classes - 1} (the same blank), or None")
    if mask_index is not None:          # the blank column moved last, as Keras 3 does it
        m = int(mask_index)             # Python slicing, as TensorFlow's
        y = np.concatenate([y[..., :m], y[..., m + 1:], y[..., m:m + 1]], axis=-1)
    if y.shape[2] < 1:
        raise InputError("ctc_decode_keras3: no classes left after moving mask_index")
    found, scores = _beams(y, lengths, beam_width, top_paths, merge_repeated=False)
    decoded = np.stack([_dense(p, y.shape[:2], np.int32) for p in found])
    if mask_index is not None:          # and the labels shifted back
        m = int(mask_index) + (classes if int(mask_index) < 0 else 0)
        decoded = np.where(decoded >= m, decoded + 1, decoded).astype(np.int32)
    return decoded, scores


# ----- shared ------------------------------------------------------------------------------------
def _check(y, lengths, who: str) -> Tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y)
    if y.ndim != 3 or y.dtype.kind not in "fiu" or y.shape[2] < 1:
        raise InputError(f"{who}: expects (batch, time, classes) numbers, received shape "
                         f"{y.shape} of {y.dtype}")
    n = np.asarray(lengths)
    if n.ndim == 2 and n.shape[1] == 1:            # (batch, 1), as Keras examples pass it
        n = n[:, 0]
    if n.shape != (y.shape[0],) or n.dtype.kind not in "iuf" or \
            (n.dtype.kind == "f" and not np.all(n == np.round(n))):
        raise InputError(f"{who}: expects one whole length per sample, shape "
                         f"({y.shape[0]},), received {n.shape} of {n.dtype}")
    n = n.astype(np.int64)
    if n.size and (n.min() < 0 or n.max() > y.shape[1]):
        raise InputError(f"{who}: lengths must be within [0, {y.shape[1]}] (the time axis), "
                         f"received {n.min()}..{n.max()}")
    return y, n


def _check_beam(beam_width, top_paths, who: str) -> None:
    for name, v in (("beam_width", beam_width), ("top_paths", top_paths)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise InputError(f"{who}: {name}={v!r} must be a positive integer")
    if top_paths > beam_width:
        raise InputError(f"{who}: top_paths={top_paths} is more than beam_width={beam_width}")


def _dense(paths: Sequence[Sequence[int]], shape, dtype) -> np.ndarray:
    """Label sequences as a (batch, time) array padded with -1 (``tf.sparse.to_dense``)."""
    out = np.full(shape, -1, dtype)
    for b, p in enumerate(paths):
        out[b, :len(p)] = p
    return out


def _greedy(y: np.ndarray, lengths: np.ndarray, blank: int, merge_repeated: bool):
    """Best path (``CTCGreedyDecoderOp``): the first maximal class per step; blanks dropped,
    repeats merged; score ``-sum`` of the maxima, accumulated step by step in the inputs'
    dtype."""
    best = np.argmax(y, axis=2)                                  # (batch, time)
    top = np.take_along_axis(y, best[..., None], axis=2)[..., 0]
    scores = np.zeros((y.shape[0], 1), y.dtype)
    for t in range(y.shape[1]):
        live = t < lengths
        scores[live, 0] -= top[live, t]
    paths = []
    for b in range(y.shape[0]):
        seq = best[b, :lengths[b]]
        keep = seq != blank
        if merge_repeated and seq.size:
            keep &= np.concatenate([[True], seq[1:] != seq[:-1]])
        paths.append(seq[keep].tolist())
    return paths, scores


# ----- beam search (TensorFlow's ctc_beam_search.h) -----------------------------------------------
class _Beam:
    """A prefix-tree node: a label sequence, its log-probabilities of ending in a blank, in
    its last label, and in total, at the previous step (``old_*``) and now."""

    __slots__ = ("parent", "label", "children", "total", "blank", "lab",
                 "old_total", "old_blank", "old_lab")

    def __init__(self, parent: Optional["_Beam"], label: int):
        self.parent, self.label = parent, label
        self.children: dict = {}
        self.total = self.blank = self.lab = _NEG_INF
        self.old_total = self.old_blank = self.old_lab = _NEG_INF

    def child(self, label: int) -> "_Beam":
        c = self.children.get(label)
        if c is None:
            c = self.children[label] = _Beam(self, label)
        return c

    def reset(self, old: bool = False) -> None:
        self.total = self.blank = self.lab = _NEG_INF
        if old:
            self.old_total = self.old_blank = self.old_lab = _NEG_INF

    def labels(self, merge_repeated: bool) -> List[int]:
        out, prev, node = [], -1, self
        while node.parent is not None:
            if not merge_repeated or node.label != prev:
                out.append(node.label)
            prev, node = node.label, node.parent
        return out[::-1]


def _logsumexp(a: float, b: float) -> float:
    if a == _NEG_INF:
        return b
    if b == _NEG_INF:
        return a
    return a + math.log1p(math.exp(b - a)) if a > b else b + math.log1p(math.exp(a - b))


class _Leaves:
    """The kept beams: at most ``width``, the worst one at hand (a min-heap on the total each
    had when it was kept; totals do not change while kept within a step)."""

    def __init__(self, width: int):
        self.width, self.count = width, itertools.count()
        self.heap: List[Tuple[float, int, _Beam]] = []

    def push(self, beam: _Beam) -> None:
        item = (beam.total, next(self.count), beam)
        if len(self.heap) < self.width:
            heapq.heappush(self.heap, item)
        else:
            heapq.heapreplace(self.heap, item)          # drops the worst (already reset)

    def bottom(self) -> float:
        return self.heap[0][0]

    def full(self) -> bool:
        return len(self.heap) >= self.width

    def candidate(self, total: float) -> bool:
        return total > _NEG_INF and (not self.full() or total > self.bottom())

    def sorted(self) -> List[_Beam]:
        """Best first."""
        return [item[2] for item in sorted(self.heap, key=lambda i: (-i[0], i[1]))]


def _beam_one(y: np.ndarray, beam_width: int, top_paths: int, merge_repeated: bool):
    """(paths, scores) of one sample's (time, classes) inputs."""
    classes = y.shape[1]
    blank = classes - 1
    root = _Beam(None, -1)
    root.total = root.blank = 0.0
    leaves = _Leaves(beam_width)
    leaves.push(root)
    for row in y.astype(np.float64):
        top = float(row.max())
        shifted = row - (top + math.log(float(np.sum(np.exp(row - top)))))
        branches = leaves.sorted()
        leaves = _Leaves(beam_width)
        for b in branches:
            b.old_total, b.old_blank, b.old_lab = b.total, b.blank, b.lab
        for b in branches:                       # the kept beams, one step on
            if b.parent is not None:
                p = b.parent
                if p.total != _NEG_INF:           # the parent is still kept
                    prev = p.old_blank if b.label == p.label else p.old_total
                    b.lab = _logsumexp(b.lab, prev)
                b.lab += float(shifted[b.label])
            b.blank = b.old_total + float(shifted[blank])
            b.total = _logsumexp(b.blank, b.lab)
            leaves.push(b)
        for b in branches:                       # their children
            if not leaves.candidate(b.old_total):
                continue
            ext = shifted[:blank] + b.old_total
            if 0 <= b.label < blank:
                ext[b.label] = shifted[b.label] + b.old_blank
            labels: Sequence[int] = range(blank)
            if leaves.full():
                # The worst kept total only rises, so other labels make no kept child this
                # step; existing children are visited all the same (in label order, as
                # TensorFlow), since one dropped meanwhile gets deactivated below.
                labels = sorted(set(np.flatnonzero(ext > leaves.bottom()).tolist()) |
                                set(b.children))
            for label in labels:
                c = b.child(label)
                if c.total != _NEG_INF:           # already kept: stepped above
                    continue
                total = float(ext[label])
                if leaves.candidate(total):
                    if leaves.full():
                        leaves.heap[0][2].reset()
                    c.blank, c.lab, c.total = _NEG_INF, total, total
                    leaves.push(c)
                else:
                    # deactivated, its previous step too: a kept beam dropped earlier in
                    # this step then no longer grows children of its own (TensorFlow)
                    c.reset(old=True)
    kept = leaves.sorted()
    if top_paths > len(kept):
        raise InputError(f"ctc_decode: fewer beams ({len(kept)}) than top_paths={top_paths} "
                         f"(TensorFlow: 'Less leaves in the beam search than requested')")
    best = kept[:top_paths]
    return [b.labels(merge_repeated) for b in best], [b.total for b in best]


def _beams(y: np.ndarray, lengths: np.ndarray, beam_width: int, top_paths: int,
           merge_repeated: bool):
    """Per path j: the list of each sample's labels; scores (batch, top_paths)."""
    paths: List[List[List[int]]] = [[] for _ in range(top_paths)]
    scores = np.zeros((y.shape[0], top_paths), y.dtype)
    for b in range(y.shape[0]):
        found, s = _beam_one(y[b, :lengths[b]], beam_width, top_paths, merge_repeated)
        for j in range(top_paths):
            paths[j].append(found[j])
        scores[b] = s
    return paths, scores
