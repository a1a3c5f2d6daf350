"""CTC decoding (kerasrnn_infer.ctc): hand-checked cases without TensorFlow, and, with it,
every strategy against each Keras's own decoder (tf.keras.backend.ctc_decode of tf-keras,
keras.ops.ctc_decode of Keras 3) on random and peaked softmax sequences with varied lengths:
the same paths (labels, -1 padding, shapes, dtypes) and log-probabilities within 1e-5."""

import numpy as np
import pytest

import kerasrnn_infer as kri
from conftest import have_tensorflow


def _softmax(z):
    e = np.exp(z - z.max(-1, keepdims=True))
    return (e / e.sum(-1, keepdims=True)).astype(np.float32)


def _cases():
    """(name, y (batch, time, classes) softmax, lengths): random (scale 1) and peaked
    (scale 6: near one-hot steps, as a trained CRNN gives), lengths from 1 to time."""
    rng = np.random.default_rng(2026)
    out = []
    for k, (batch, steps, classes, scale) in enumerate([(4, 9, 5, 1.0), (4, 9, 5, 6.0),
                                                        (3, 12, 7, 3.0), (5, 6, 3, 8.0)]):
        y = _softmax(rng.normal(0, scale, (batch, steps, classes)))
        lengths = rng.integers(1, steps + 1, batch)
        lengths[0] = steps
        out.append((f"{'peaked' if scale > 2 else 'random'}{k}", y, lengths))
    return out


CASES = _cases()
GREEDY_OR_BEAM = [(True, 100, 1), (False, 100, 1), (False, 8, 3), (False, 2, 2)]


def test_greedy_by_hand():
    # classes a=0, b=1, blank=2: steps a a blank a b b -> "a a b"
    p = np.full((1, 6, 3), 0.1, np.float32)
    for t, c in enumerate([0, 0, 2, 0, 1, 1]):
        p[0, t, c] = 0.8
    (decoded,), log_prob = kri.ctc_decode(p, np.array([6]))
    assert decoded.tolist() == [[0, 0, 1, -1, -1, -1]]
    assert decoded.dtype == np.int64
    np.testing.assert_allclose(log_prob, [[-6 * np.log(np.float32(0.8) + 1e-7)]], rtol=1e-6)
    (short,), _ = kri.ctc_decode(p, np.array([2]))          # only the first two steps: "a"
    assert short.tolist() == [[0, -1, -1, -1, -1, -1]]


def test_beam_search_finds_what_best_path_misses():
    """Graves's example: per-step best path is blank-blank, but "a" is more probable
    (0.58 against 0.42); beam search returns it and its probability."""
    p = np.array([[[0.3, 0.7], [0.4, 0.6]]], np.float32)
    (greedy,), _ = kri.ctc_decode(p, [2])
    assert greedy.tolist() == [[-1, -1]]
    (best, second), log_prob = kri.ctc_decode(p, [2], greedy=False, beam_width=4, top_paths=2)
    assert best.tolist() == [[0, -1]] and second.tolist() == [[-1, -1]]
    np.testing.assert_allclose(np.exp(log_prob), [[0.58, 0.42]], rtol=1e-5)


def test_keras3_convention_by_hand():
    x = np.log(np.array([[[0.1, 0.8, 0.1], [0.7, 0.2, 0.1], [0.1, 0.1, 0.8]]], np.float32))
    decoded, scores = kri.ctc_decode_keras3(x, [3])                      # blank = class 0
    assert decoded.shape == (1, 1, 3) and decoded.dtype == np.int32
    assert decoded.tolist() == [[[1, 2, -1]]]
    np.testing.assert_allclose(scores, [[-np.log([0.8, 0.7, 0.8]).sum()]], rtol=1e-6)
    decoded, _ = kri.ctc_decode_keras3(x, [3], mask_index=2)
    assert decoded.tolist() == [[[1, 0, -1]]]


@pytest.mark.parametrize("bad, message", [
    (dict(y_pred=np.zeros((2, 3))), "expects \\(batch, time, classes\\)"),
    (dict(input_length=[1]), "one whole length per sample"),
    (dict(input_length=[4, 1]), "within \\[0, 3\\]"),
    (dict(greedy=False, top_paths=5, beam_width=2), "top_paths=5 is more than beam_width=2"),
    (dict(greedy=False, beam_width=0), "beam_width=0 must be a positive integer"),
])
def test_bad_arguments_are_input_errors(bad, message):
    args = dict(y_pred=np.full((2, 3, 4), 0.25, np.float32), input_length=[3, 1])
    args.update(bad)
    with pytest.raises(kri.InputError, match=message):
        kri.ctc_decode(**args)


def test_fewer_beams_than_top_paths_is_refused_as_tensorflow_does():
    with pytest.raises(kri.InputError, match="fewer beams"):
        kri.ctc_decode(np.full((1, 2, 3), 1 / 3, np.float32), [0], greedy=False, top_paths=2)


# ----- against each Keras ---------------------------------------------------------------------
live = pytest.mark.skipif(not have_tensorflow(), reason="TensorFlow is not installed")


@live
@pytest.mark.live
@pytest.mark.parametrize("name, y, lengths", CASES, ids=[c[0] for c in CASES])
def test_matches_tf_keras_backend_ctc_decode(name, y, lengths):
    import tf_keras
    for greedy, beam_width, top_paths in GREEDY_OR_BEAM:
        want, want_lp = tf_keras.backend.ctc_decode(y, lengths, greedy=greedy,
                                                    beam_width=beam_width, top_paths=top_paths)
        got, got_lp = kri.ctc_decode(y, lengths, greedy=greedy, beam_width=beam_width,
                                     top_paths=top_paths)
        assert len(got) == len(want)
        for g, w in zip(got, want):
            w = np.asarray(w)
            assert g.dtype == w.dtype and g.shape == w.shape
            np.testing.assert_array_equal(g, w)
        np.testing.assert_allclose(got_lp, np.asarray(want_lp), atol=1e-5, rtol=1e-5)


KERAS3_OPTIONS = [dict(strategy="greedy"), dict(strategy="greedy", mask_index=2),
                  dict(strategy="greedy", merge_repeated=False, mask_index=None),
                  dict(strategy="beam_search", beam_width=100),
                  dict(strategy="beam_search", beam_width=8, top_paths=3, mask_index=1),
                  dict(strategy="beam_search", beam_width=3, top_paths=2, mask_index=None),
                  dict(strategy="beam_search", beam_width=4, top_paths=2, mask_index=-2)]


@live
@pytest.mark.live
@pytest.mark.parametrize("name, y, lengths", CASES, ids=[c[0] for c in CASES])
def test_matches_keras3_ops_ctc_decode(name, y, lengths):
    import keras
    logits = np.log(y).astype(np.float32)            # Keras 3 decodes logits
    for options in KERAS3_OPTIONS:
        want, want_scores = keras.ops.ctc_decode(logits, lengths, **options)
        got, got_scores = kri.ctc_decode_keras3(logits, lengths, **options)
        want = np.asarray(want)
        assert got.dtype == want.dtype and got.shape == want.shape, options
        np.testing.assert_array_equal(got, want, err_msg=str(options))
        np.testing.assert_allclose(got_scores, np.asarray(want_scores), atol=1e-5, rtol=1e-5,
                                   err_msg=str(options))


def test_keras3_beam_search_with_mask_index_minus_one_is_refused():
    """Keras 3's column move duplicates every class for mask_index=-1 (a Keras bug), so its
    labels depend on TensorFlow's order of tied beams: refused, naming what works."""
    with pytest.raises(kri.UnsupportedError, match="mask_index=3 \\(the same blank\\)"):
        kri.ctc_decode_keras3(np.zeros((1, 3, 4), np.float32), [3], strategy="beam_search",
                              mask_index=-1)
