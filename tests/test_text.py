"""Strings end to end: TensorFlow's text standardization and splitting on Unicode (checked
against TensorFlow itself where it is installed), text classifiers predicting from raw strings
through the API and the CLI, vocabularies from configs and .keras assets, and the refusals of
what needs code or hashing."""

import json
import os
import shutil
import subprocess
import sys
import zipfile

import numpy as np
import pytest

import kerasrnn_infer as kri
from kerasrnn_infer.layers.text import ngrams, split, standardize
from kerasrnn_infer.testing import generate_inputs

from _cases import inputs, read_case
from conftest import FIXTURES, ROOT, have_tensorflow

live = [pytest.mark.live,
        pytest.mark.skipif(not have_tensorflow(), reason="TensorFlow is not installed")]

TEXT_K3 = os.path.join(FIXTURES, "text_gru__keras3")       # (B,) strings, Keras 3 .keras
TEXT_TFK = os.path.join(FIXTURES, "text_gru__tf_keras")    # (B, 1) strings, tf-keras .keras

# What TensorFlow 2.21 gives (tf.strings.lower without an encoding, Keras's punctuation
# regex, tf.strings.split, tf.strings.unicode_split), recorded by running it; the live test
# below re-checks these and a larger corpus against TensorFlow.
UNICODE_CASES = [
    # text, lower, strip_punctuation, whitespace tokens of the text
    ("ÜBER Café ÉTÉ", "Über café ÉtÉ", "ÜBER Café ÉTÉ", ["ÜBER", "Café", "ÉTÉ"]),
    ("ΑΒΓ Δέλτα", "ΑΒΓ Δέλτα", "ΑΒΓ Δέλτα", ["ΑΒΓ", "Δέλτα"]),
    ("ПРИВЕТ Мир", "ПРИВЕТ Мир", "ПРИВЕТ Мир", ["ПРИВЕТ", "Мир"]),
    ("İstanbul IŞIK ı", "İstanbul iŞik ı", "İstanbul IŞIK ı", ["İstanbul", "IŞIK", "ı"]),
    ("😀 Hi! 👍🏽", "😀 hi! 👍🏽", "😀 Hi 👍🏽", ["😀", "Hi!", "👍🏽"]),
    ("don't stop-me:now", "don't stop-me:now", "dont stopmenow", ["don't", "stop-me:now"]),
    ("a\u00a0b c\u2003d\te\nf\rg\x0bh\x0ci", "a\u00a0b c\u2003d\te\nf\rg\x0bh\x0ci",
     "a\u00a0b c\u2003d\te\nf\rg\x0bh\x0ci", ["a\u00a0b", "c\u2003d", "e", "f", "g", "h", "i"]),
    ("¿Qué? ¡Sí! «q» — …", "¿qué? ¡sí! «q» — …", "¿Qué ¡Sí «q» — …",
     ["¿Qué?", "¡Sí!", "«q»", "—", "…"]),
    ("\u2028line\u2029para\x85nel \x1c", "\u2028line\u2029para\x85nel \x1c",
     "\u2028line\u2029para\x85nel \x1c", ["\u2028line\u2029para\x85nel", "\x1c"]),
    ("ＡＢＣ e\u0301 ẞ ǅ", "ＡＢＣ e\u0301 ẞ ǅ", "ＡＢＣ e\u0301 ẞ ǅ", ["ＡＢＣ", "e\u0301", "ẞ", "ǅ"]),
]


@pytest.mark.parametrize("text,lower,stripped,tokens", UNICODE_CASES)
def test_unicode_standardization_and_splitting_match_tensorflow(text, lower, stripped, tokens):
    b = text.encode("utf-8")
    assert standardize(b, "lower").decode() == lower
    assert standardize(b, "strip_punctuation").decode() == stripped
    assert standardize(b, "lower_and_strip_punctuation").decode() == \
        standardize(lower.encode(), "strip_punctuation").decode()
    assert [t.decode() for t in split(b, "whitespace", "t")] == tokens
    assert [t.decode() for t in split(b, "character", "t")] == list(text)   # code points


def test_python_string_methods_would_differ():
    """Guards the findings: Python's Unicode lower() and split() are not TensorFlow's."""
    assert "ÜBER".lower() != standardize("ÜBER".encode(), "lower").decode()
    assert "a\u00a0b".split() != [t.decode() for t in split("a\u00a0b".encode(), "whitespace", "")]


def test_ngrams_are_all_unigrams_then_all_bigrams():
    toks = [b"a", b"b", b"c"]
    assert ngrams(toks, (1, 2)) == [b"a", b"b", b"c", b"a b", b"b c"]
    assert ngrams(toks, (3,)) == [b"a b c"]
    assert ngrams([b"a"], (2,)) == []


@pytest.mark.live
@pytest.mark.skipif(not have_tensorflow(), reason="TensorFlow is not installed")
def test_unicode_corpus_against_tensorflow_ops():
    """Random texts drawn from ASCII, Latin-1, Greek, Cyrillic, Turkish I, combining marks,
    emoji (with skin tones and ZWJ), Unicode spaces and separators: our standardization,
    splits and n-grams equal TensorFlow's string ops byte for byte."""
    import tensorflow as tf
    rng = np.random.default_rng(7)
    alphabet = list("aZ ,.!?'-_:;()[]{}\"#@\t\n\r\x0b\x0c") + list(
        "ÜüÉéßẞΔδΣσςЖжİıIŞşǅǈ\u0301\u0308\u00a0\u2003\u2028\u2029\x85\x1c\u200b«»—…¿¡") + [
        "😀", "👍🏽", "👩\u200d💻", "🇫🇷", "Ａ"]
    texts = ["".join(rng.choice(alphabet, int(rng.integers(0, 30)))) for _ in range(300)]
    t = tf.constant(texts)
    low = [x for x in tf.strings.lower(t).numpy()]
    strip = tf.strings.regex_replace(t, r'[!"#$%&()\*\+,-\./:;<=>?@\[\\\]^_`{|}~\']', "").numpy()
    ws = tf.strings.split(t).to_list()
    ch = tf.strings.unicode_split(t, "UTF-8").to_list()
    grams = tf.strings.ngrams(tf.strings.split(t), ngram_width=(1, 2), separator=" ").to_list()
    for i, text in enumerate(texts):
        b = text.encode("utf-8")
        assert standardize(b, "lower") == low[i], text
        assert standardize(b, "strip_punctuation") == strip[i], text
        assert split(b, "whitespace", "t") == ws[i], text
        assert split(b, "character", "t") == ch[i], text
        assert ngrams(split(b, "whitespace", "t"), (1, 2)) == grams[i], text


# ----- predicting from raw strings ---------------------------------------------------------------
@pytest.mark.parametrize("d", [TEXT_K3, TEXT_TFK], ids=["keras3", "tf_keras"])
def test_text_classifier_predicts_from_raw_strings(d):
    spec, io_ = read_case(d)
    model = kri.load_model(os.path.join(d, spec["load"]["path"]))
    texts = io_["in/0"]
    want = io_["call0/out/0"]
    as_list = texts.tolist()                                   # a list of strings
    got = model.predict(as_list)
    np.testing.assert_allclose(got, want, atol=1e-5)
    obj = np.array(as_list, dtype=object)                     # an object array of str
    np.testing.assert_allclose(model.predict(obj), want, atol=1e-5)
    enc = np.vectorize(lambda s: s.encode("utf-8"), otypes=[object])(texts)   # bytes (UTF-8)
    np.testing.assert_allclose(model.predict(enc), want, atol=1e-5)
    with pytest.raises(kri.InputError, match="expects strings"):
        model.predict(np.zeros(texts.shape))
    with pytest.raises(kri.InputError, match="item 1 is NoneType"):
        model.predict(np.array(["a", None], dtype=object).reshape((2,) + texts.shape[1:]))
    with pytest.raises(kri.InputError, match="not UTF-8"):
        model.predict(np.array([b"\xff\xfe"], dtype=object).reshape((1,) + texts.shape[1:]))


def _cli(*args, stdin=None):
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-m", "kerasrnn_infer", *map(str, args)],
                          input=stdin, capture_output=True, text=True, env=env, timeout=300)


def test_cli_predicts_text_from_json_stdin_and_npy(tmp_path):
    spec, io_ = read_case(TEXT_K3)
    path = os.path.join(TEXT_K3, spec["load"]["path"])
    texts, want = io_["in/0"], io_["call0/out/0"]
    r = _cli("predict", path, "--input", "-", stdin=json.dumps({"text": texts.tolist()}))
    assert r.returncode == 0, r.stderr
    np.testing.assert_allclose(np.array(json.loads(r.stdout)["dense"]), want, atol=1e-5)
    np.save(tmp_path / "t.npy", texts)                          # fixed-width '<U' array
    r = _cli("predict", path, "--input", tmp_path / "t.npy", "--output", tmp_path / "y.npy")
    assert r.returncode == 0, r.stderr
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), want, atol=1e-5)
    np.save(tmp_path / "o.npy", texts.astype(object), allow_pickle=True)      # object array
    r = _cli("predict", path, "--input", tmp_path / "o.npy")
    assert r.returncode == 2 and "np.array(texts, dtype=str)" in r.stderr, r.stderr
    r = _cli("predict", path, "--input", "-", stdin="[[1, 2]]")
    assert r.returncode == 2 and "expects strings" in r.stderr, r.stderr


def test_cli_predicts_text_from_json_file_tf_keras(tmp_path):
    spec, io_ = read_case(TEXT_TFK)
    texts, want = io_["in/0"], io_["call0/out/0"]
    (tmp_path / "t.json").write_text(json.dumps(texts.tolist(), ensure_ascii=False),
                                     encoding="utf-8")
    r = _cli("predict", os.path.join(TEXT_TFK, spec["load"]["path"]), "--input",
             tmp_path / "t.json")
    assert r.returncode == 0, r.stderr
    np.testing.assert_allclose(np.array(json.loads(r.stdout)["dense"]), want, atol=1e-5)


@pytest.mark.parametrize("case", ["text_gru__keras3", "text_modes__tf_keras",
                                  "lookup_adapted__keras3", "lookup_vocabularies__tf_keras",
                                  "numeric_preprocessing__keras3"])
def test_generated_inputs_exercise_the_vocabulary(case):
    """verify's inputs for string models: vocabulary words, unknown words, punctuation and
    capitals for texts; vocabulary tokens, unknown ones and padding for lookups."""
    d = os.path.join(FIXTURES, case)
    spec, _ = read_case(d)
    model = kri.load_model(os.path.join(d, spec["load"]["path"]))
    xs = generate_inputs(model, batch=6, seed=3)
    for spec_in, x in zip(model.inputs, xs):
        assert x.shape[0] == 6
        if spec_in.dtype.kind == "U":
            assert x.dtype.kind == "U"
    model.predict(xs if len(xs) > 1 else xs[0])
    if case == "text_gru__keras3":
        texts = xs[0].tolist()
        vocab = model.get_layer("vectorize").index
        words = [w for t in texts for w in t.split()]
        assert "" in texts                                         # an empty text
        assert any(w[:1].isupper() for w in words)                 # capitals
        assert any(not w[-1:].isalnum() for w in words)            # punctuation
        known = [w for w in words if w.lower().strip(",!?.:'s").encode() in vocab]
        assert known and len(known) < len(words)                   # known and unknown words
        ids = model.layer_outputs(xs[0])["vectorize"]
        assert (ids >= 2).any() and (ids == 1).any()               # vocabulary and OOV ids
    if case == "lookup_adapted__keras3":
        ids = model.layer_outputs(xs)["sl_adapted"]
        assert (ids == 0).any() and (ids == 1).any() and (ids >= 2).any()


@pytest.mark.live
@pytest.mark.skipif(not have_tensorflow(), reason="TensorFlow is not installed")
@pytest.mark.parametrize("case", ["text_gru__keras3"])
def test_cli_verify_generates_text_and_passes(case, capsys):
    from kerasrnn_infer import cli
    d = os.path.join(FIXTURES, case)
    spec, _ = read_case(d)
    assert cli.main(["verify", os.path.join(d, spec["load"]["path"])]) == 0
    out = capsys.readouterr().out
    assert "PASS:" in out and "FAIL" not in out, out


# ----- vocabularies --------------------------------------------------------------------------------
def _rewrite_zip(src, dst, drop=(), replace=None):
    replace = replace or {}
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for item in zin.infolist():
            if any(item.filename.startswith(p) for p in drop):
                continue
            data = replace.get(item.filename, zin.read(item.filename))
            zout.writestr(item, data if not callable(data) else data(zin.read(item.filename)))
    return str(dst)


def test_an_adapted_vocabulary_missing_from_the_file_is_named(tmp_path):
    """A Keras 3 legacy .h5 (or a .keras stripped of its assets) loses an adapted vocabulary:
    refused at load, naming the layer, instead of predicting with an empty table."""
    path = _rewrite_zip(os.path.join(TEXT_K3, "model.keras"), tmp_path / "m.keras",
                        drop=("assets/",))
    with pytest.raises(kri.WeightsError, match=r"'vectorize' \(TextVectorization\) has no "
                                               r"vocabulary"):
        kri.load_model(path)


def test_vocabulary_asset_read_as_its_writer_reads_it(tmp_path):
    """Keras 3 reads vocabulary.txt with splitlines() (U+2028 ends a line), tf-keras with
    split('\\n'): the same file gives different ids (compat.vocabulary_lines)."""
    spec, io_ = read_case(TEXT_K3)
    member = "assets/layers/text_vectorization/vocabulary.txt"
    with zipfile.ZipFile(os.path.join(TEXT_K3, "model.keras")) as z:
        vocab = z.read(member).decode().split("\n")
    joined = vocab[5] + "\u2028" + vocab[6]     # two tokens on one line, split by U+2028
    vocab[5:7] = [joined]
    path = _rewrite_zip(os.path.join(TEXT_K3, "model.keras"), tmp_path / "m.keras",
                        replace={member: "\n".join(vocab).encode()})
    k3 = kri.load_model(path).get_layer("vectorize")
    tfk = kri.load_model(path, keras_version="2.21.0").get_layer("vectorize")
    assert k3.vocab_size == tfk.vocab_size + 1
    assert joined.encode() in tfk.index and joined.encode() not in k3.index


def test_vocabulary_given_in_the_config_wins_over_assets():
    d = os.path.join(FIXTURES, "lookup_vocabularies__keras3")
    spec, io_ = read_case(d)
    model = kri.load_model(os.path.join(d, "model.keras"))
    sl = model.get_layer("sl_mask")
    # mask '' -> 0, OOV -> 1, 'cat' -> 2; exact matches: 'Café' and 'café' differ
    assert sl.call(np.array([["", "zzz", "cat", "Café", "café", "CAT", "😀"]])).tolist() == \
        [[0, 1, 2, 4, 5, 1, 7]]


REFUSED = [
    ("TextVectorization", {"standardize": {"module": "builtins", "class_name": "function",
                                           "config": "my_standardize"}}, "standardize"),
    ("TextVectorization", {"split": {"class_name": "function", "config": "f"}}, "split"),
    ("TextVectorization", {"split": None, "ngrams": 2, "vocabulary": ["a"]}, "ngrams"),
    ("TextVectorization", {"output_mode": "one_hot", "vocabulary": ["a"]}, "output_mode"),
    ("TextVectorization", {"ragged": True, "vocabulary": ["a"]}, "ragged"),
    ("StringLookup", {"num_oov_indices": 2, "vocabulary": ["a"]}, "num_oov_indices"),
    ("IntegerLookup", {"num_oov_indices": 3, "vocabulary": [1]}, "num_oov_indices"),
    ("StringLookup", {"invert": True, "vocabulary": ["a"]}, "invert"),
    ("StringLookup", {"vocabulary": "/etc/passwd"}, "vocabulary"),
    ("StringLookup", {"encoding": "latin-1", "vocabulary": ["a"]}, "encoding"),
    ("StringLookup", {"sparse": True, "output_mode": "multi_hot", "vocabulary": ["a"]},
     "sparse"),
    ("Discretization", {"bin_boundaries": [0.0], "sparse": True, "output_mode": "count"},
     "sparse"),
]


@pytest.mark.parametrize("cls,cfg,option", REFUSED,
                         ids=[f"{c}-{o}" for c, _, o in REFUSED])
def test_what_needs_code_or_hashing_is_refused_naming_the_option(cls, cfg, option):
    from _build import k3_layer, sequential
    model = sequential([k3_layer("InputLayer", "text", batch_shape=[None], dtype="string"),
                        k3_layer(cls, "layer", **cfg)])
    with pytest.raises(kri.UnsupportedError, match=rf"'layer' \({cls}\): {option}="):
        kri.model_from_json(json.dumps(model))


def test_unknown_token_without_oov_index_is_an_input_error():
    d = os.path.join(FIXTURES, "lookup_vocabularies__tf_keras")
    model = kri.load_model(os.path.join(d, "model.h5"))
    layer = model.get_layer("sl_no_oov")
    assert layer.call(np.array([["zzz"], ["cat"]])).tolist() == [[7], [0]]
    with pytest.raises(kri.InputError, match="'nope' is not in the vocabulary"):
        layer.call(np.array([["nope"]]))


def test_streaming_refuses_text_models_and_attention():
    for case, layer in (("text_gru__keras3", "vectorize"), ("dense_attention__tf_keras", "att")):
        d = os.path.join(FIXTURES, case)
        spec, io_ = read_case(d)
        model = kri.load_model(os.path.join(d, spec["load"]["path"]))
        with pytest.raises(kri.UnsupportedError, match=f"'{layer}"):
            model.step(inputs(io_))


def test_fixture_copies_keep_working(tmp_path):
    """The text fixture loads from a copy with another extension (content, not name)."""
    shutil.copy(os.path.join(TEXT_TFK, "model.keras"), tmp_path / "model.bin")
    spec, io_ = read_case(TEXT_TFK)
    got = kri.load_model(str(tmp_path / "model.bin")).predict(io_["in/0"])
    np.testing.assert_allclose(got, io_["call0/out/0"], atol=1e-5)


TV_OPTIONS = [
    {"split": None, "output_sequence_length": 3},          # whole texts are the tokens
    {"split": None, "output_mode": "multi_hot"},
    {"split": "character", "ngrams": (1, 2), "standardize": None, "output_sequence_length": 9},
    {"standardize": "lower", "output_mode": "count", "pad_to_max_tokens": True,
     "max_tokens": 15},
]


@pytest.mark.live
@pytest.mark.skipif(not have_tensorflow(), reason="TensorFlow is not installed")
@pytest.mark.parametrize("writer", ["keras3", "tf_keras"])
def test_more_text_vectorization_options_live(writer, tmp_path):
    """Options the fixtures do not hold, with a vocabulary in the config, on (B, 1) texts."""
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import tensorflow as tf
    K = __import__("keras" if writer == "keras3" else "tf_keras")
    vocab = ["the cat", "the", "cat", "a", "é", "e", "\u0301", "t", "h", "c", "a c", "th"]
    texts = np.array([["the cat"], ["The Cat!"], ["école"], [""], ["a c"], ["thé"]])
    for i, opts in enumerate(TV_OPTIONS):
        inp = K.Input((1,), dtype="string" if writer == "keras3" else tf.string)
        tv = K.layers.TextVectorization(vocabulary=vocab, **opts)
        model = K.Model(inp, tv(inp))
        want = np.asarray(model.predict(tf.constant(texts), verbose=0))
        path = str(tmp_path / (f"m{i}.keras" if writer == "keras3" else f"m{i}.h5"))
        model.save(path)
        got = kri.load_model(path).predict(texts)
        assert got.shape == want.shape, (opts, got.shape, want.shape)
        np.testing.assert_allclose(got, want, err_msg=str(opts))
