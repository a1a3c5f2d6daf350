"""String and vocabulary layers: StringLookup, IntegerLookup and TextVectorization, and the
text standardization and splitting TensorFlow applies (``standardize``, ``split``).

Text is handled as UTF-8 bytes, as TensorFlow's string ops do, and matched byte for byte
against real Keras (KERAS_FACTS_WIDE "Preprocessing", tests/test_text.py):

- ``lower``: ``tf.strings.lower`` without an encoding, which lowercases the ASCII letters
  A-Z only: 'ÜBER Café ΔΈΛΤΑ İ' -> 'Über café ΔΈΛΤΑ İ' (Python's ``str.lower`` would change
  all of them).
- ``strip_punctuation``: the regex ``[!"#$%&()\\*\\+,-\\./:;<=>?@\\[\\\\\\]^_`{|}~\\']``
  deletes the 32 ASCII punctuation characters (not replaced by a space); Unicode
  punctuation (« » — … “ ” ¿ ¡) and emoji stay.
- ``split="whitespace"``: ``tf.strings.split``: runs of ASCII whitespace (space \\t \\n \\r
  \\v \\f) only; NBSP, U+2003, U+2028 and \\x1c-\\x1f do not split (``str.split`` would).
- ``split="character"``: ``tf.strings.unicode_split``: code points, so a combining accent
  is a token of its own ('e' + U+0301 is two tokens, 'é' one).
- ``ngrams``: all n-grams of each width in order, joined by one space.

Lookups (Keras 3 ``layers/preprocessing/index_lookup.py``) map a mask token to 0 (int
mode), OOV tokens to the OOV index and the vocabulary from there on. The vocabulary is in
the config (given to the constructor), or for an adapted layer in the ``.keras`` archive's
assets (``assets/layers/<snake>[_n]/vocabulary.txt``, one token per line, read as the writing
Keras reads it: compat.vocabulary_lines); tf_idf weights are in the weights where the writer
put them, else computed from the config's as Keras does. Callable standardize/split and
hashed OOV buckets (``num_oov_indices > 1``) are refused.
"""

from __future__ import annotations

import string
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from .. import limits
from ..errors import ConfigError, InputError, WeightsError
from .base import Layer, single
from .preprocessing import encode_categorical

_PUNCTUATION = string.punctuation.encode("ascii")      # the 32 characters of Keras's regex
_MODES = ("int", "one_hot", "multi_hot", "count", "tf_idf")
_MASKED = np.iinfo(np.int64).max       # a mask token's id outside int mode (never counted)


def standardize(text: bytes, mode: Optional[str]) -> bytes:
    """Keras's built-in standardization of one UTF-8 text (see the module docstring)."""
    if mode in ("lower", "lower_and_strip_punctuation"):
        text = text.lower()                  # bytes.lower: ASCII A-Z only, as tf.strings.lower
    if mode in ("strip_punctuation", "lower_and_strip_punctuation"):
        text = text.translate(None, _PUNCTUATION)
    return text


def split(text: bytes, mode: str, where: str) -> List[bytes]:
    """Tokens of one UTF-8 text: ASCII-whitespace runs (bytes.split splits on exactly
    tf.strings.split's set) or code points."""
    if mode == "whitespace":
        return text.split()
    try:
        return [c.encode("utf-8") for c in text.decode("utf-8")]
    except UnicodeDecodeError as e:
        raise InputError(f"{where}: a text is not valid UTF-8: {e}") from None


def ngrams(tokens: List[bytes], widths: Tuple[int, ...]) -> List[bytes]:
    """``tf.strings.ngrams(tokens, widths, separator=" ")``: every n-gram of each width."""
    out: List[bytes] = []
    for n in widths:
        out += [b" ".join(tokens[i:i + n]) for i in range(len(tokens) - n + 1)]
    return out


def _utf8(strings: np.ndarray, where: str) -> List[bytes]:
    try:
        return [s.encode("utf-8") for s in strings.reshape(-1).tolist()]
    except (UnicodeEncodeError, AttributeError) as e:
        raise InputError(f"{where}: expects text that is valid Unicode: {e}") from None


class _IndexLookup(Layer):
    """What StringLookup, IntegerLookup and TextVectorization's lookup share."""

    float_dtype = False          # tf-keras writes the output dtype ("int64", "string")
    streaming = "it reads whole texts"
    modes: Tuple[str, ...] = _MODES
    default_oov: Any = "[UNK]"
    fixed: Dict[str, Any] = {}   # TextVectorization's lookup: mask '', OOV '[UNK]', one index

    def __init__(self, *a):
        super().__init__(*a)
        if self.bool_opt("invert", False):
            self.refuse("invert", True, "False (an inverted lookup outputs strings)")
        if self.bool_opt("sparse", False):
            self.refuse("sparse", True, "False")
        mode = self.opt("output_mode", "int")
        mode = {"binary": "multi_hot", "tf-idf": "tf_idf"}.get(mode, mode)
        if mode not in self.modes:
            self.refuse("output_mode", mode, ", ".join(self.modes))
        self.mode: str = mode
        self.max_tokens = self.int_opt("max_tokens", None)
        self.pad_to_max_tokens = self.bool_opt("pad_to_max_tokens", False)
        if self.pad_to_max_tokens and self.max_tokens is None and self.mode != "int":
            raise ConfigError(f"{self.where}: pad_to_max_tokens needs max_tokens")
        self.num_oov = self.fixed.get("num_oov_indices") if self.fixed else \
            self.int_opt("num_oov_indices", 1, minimum=0)
        if self.num_oov > 1:
            self.refuse("num_oov_indices", self.num_oov,
                        "0 or 1 (more OOV indices hash tokens into buckets, which "
                        "kerasrnn_infer does not reproduce)")
        if self.fixed:
            self.mask_token, self.oov_token = self.fixed["mask_token"], self.fixed["oov_token"]
        else:
            self.mask_token = self._check_token(self.config.get("mask_token"), "mask_token")
            self.oov_token = self._check_token(self.config.get("oov_token", self.default_oov),
                                               "oov_token")
        encoding = self.opt("encoding", "utf-8")
        if not isinstance(encoding, str) or encoding.lower().replace("_", "-") not in \
                ("utf-8", "utf8"):
            self.refuse("encoding", encoding, "utf-8")
        self.oov_start = 1 if self.mask_token is not None and self.mode == "int" else 0
        self.token_start = self.oov_start + self.num_oov
        self.frozen_size = self.int_opt("vocabulary_size", None, minimum=0)
        self.index: Optional[Dict[Any, int]] = None
        self.vocab_size: Optional[int] = None
        self.depth = 0
        self.idf: Optional[np.ndarray] = None
        self.config_idf: Optional[np.ndarray] = None
        idf = self.opt("idf_weights")
        if idf is not None:
            if self.mode != "tf_idf":
                raise ConfigError(f"{self.where}: idf_weights is set but output_mode is "
                                  f"{self.mode!r}")
            self.config_idf = self._idf_list(idf)
        vocab = self.opt("vocabulary")
        if isinstance(vocab, str):
            self.refuse("vocabulary", vocab, "a list of tokens, or the vocabulary the model "
                        "file holds (a path would be read outside the file)")
        if vocab is not None:
            if not isinstance(vocab, list):
                raise ConfigError(f"{self.where}: vocabulary must be a list, received "
                                  f"{type(vocab).__name__}")
            self._set_vocabulary(vocab, "config")
        # tf_idf weights are in the weights where the writer put them (Keras 3 .keras,
        # tf-keras .h5), else computed from the config: only the file says, so no fixed slots
        self.slots = None if self.mode == "tf_idf" else []

    # ----- vocabulary ---------------------------------------------------------------------
    def _check_token(self, v, what):
        raise NotImplementedError

    def _idf_list(self, idf) -> np.ndarray:
        try:
            arr = np.asarray(idf, np.float64)
        except (TypeError, ValueError):
            raise ConfigError(f"{self.where}: idf_weights must be a list of numbers") from None
        if arr.ndim != 1 or not np.all(np.isfinite(arr)):
            raise ConfigError(f"{self.where}: idf_weights must be a list of finite numbers")
        return arr

    def _set_vocabulary(self, vocab: List[Any], source: str) -> None:
        """Keras ``set_vocabulary``: special tokens at the start are recognised and skipped;
        tokens must be unique and must not be the mask token."""
        tokens = [self._check_token(t, "vocabulary entry") for t in vocab]
        if not tokens:
            raise ConfigError(f"{self.where}: the vocabulary ({source}) is empty")
        special = [self.mask_token] * self.oov_start + [self.oov_token] * self.num_oov
        found_special = tokens[:self.token_start] == special
        if found_special:
            tokens = tokens[self.token_start:]
        index: Dict[Any, int] = {}
        for i, t in enumerate(tokens):
            k = self._key(t)
            if k in index:
                raise ConfigError(f"{self.where}: the vocabulary ({source}) repeats {t!r:.80}")
            index[k] = self.token_start + i
        if self.mask_token is not None and self._key(self.mask_token) in index:
            raise ConfigError(f"{self.where}: the vocabulary ({source}) holds the mask token "
                              f"{self.mask_token!r} after its start")
        size = self.token_start + len(tokens)
        if self.max_tokens is not None and size > self.max_tokens:
            raise ConfigError(f"{self.where}: the vocabulary ({source}) has {size} entries, "
                              f"more than max_tokens={self.max_tokens}")
        if self.frozen_size is not None and self.mode != "int" and not self.pad_to_max_tokens \
                and size != self.frozen_size:
            raise ConfigError(f"{self.where}: the vocabulary ({source}) has {size} entries, "
                              f"the config says vocabulary_size={self.frozen_size}")
        self.index, self.vocab_size = index, size
        self.depth = self.max_tokens if self.pad_to_max_tokens and self.max_tokens else size
        limits.check_dim(self.depth, self.where, "the output depth")
        if self.mode == "tf_idf" and self.config_idf is not None:
            idf = self.config_idf
            if len(idf) != len(vocab):
                raise ConfigError(f"{self.where}: idf_weights has {len(idf)} entries, the "
                                  f"vocabulary {len(vocab)}")
            front, value = (0, 0.0) if found_special else (self.token_start, np.average(idf))
            back = self.depth - front - len(idf) if self.pad_to_max_tokens else 0
            self.idf = np.pad(idf, (front, max(back, 0)), constant_values=(value, 0.0)
                              ).astype(np.float32)

    def _key(self, token):
        return token

    def set_assets(self, files: Dict[str, bytes], where: str) -> None:
        """An adapted layer's vocabulary from the ``.keras`` assets (a vocabulary in the config
        wins, as in Keras's ``load_assets``)."""
        if self.index is not None or self.opt("vocabulary") is not None:
            return
        data = files.get("vocabulary.txt")
        if data is None:
            return
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as e:
            raise WeightsError(f"{where}: the vocabulary of layer {self.name!r} is not UTF-8: "
                               f"{e}") from None
        if self.ctx.compat.vocabulary_lines == "splitlines":
            lines = text.splitlines()            # Keras 3: splitlines, trailing blanks dropped
            while lines and lines[-1] == "":
                lines.pop()
        else:
            lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")   # tf-keras
        self._set_vocabulary(self._parse_lines(lines, where), f"{where} assets")

    def _parse_lines(self, lines: List[str], where: str) -> List[Any]:
        return lines

    #: where tf-keras tracks the layer's lookup table (child names in a SavedModel's object
    #: graph)
    table_paths: Tuple[Tuple[str, ...], ...] = (("lookup_table",),)

    def set_table(self, keys: List[Any], ids: np.ndarray, where: str) -> None:
        """An adapted layer's vocabulary from a tf-keras SavedModel's lookup table (a
        ``StaticHashTable`` of token -> id: the tokens only, ids from the first token index
        on; the mask and OOV tokens are not in it). A vocabulary in the config wins."""
        if self.index is not None or self.opt("vocabulary") is not None:
            return
        ids = np.asarray(ids)
        if ids.ndim != 1 or len(ids) != len(keys) or ids.dtype.kind not in "iu":
            raise WeightsError(f"{where}: the lookup table of layer {self.name!r} maps "
                               f"{len(keys)} tokens to ids of shape {ids.shape}")
        order = np.argsort(ids, kind="stable")
        want = np.arange(self.token_start, self.token_start + len(keys))
        if not np.array_equal(ids[order], want):
            raise WeightsError(
                f"{where}: the lookup table of layer {self.name!r} maps its {len(keys)} "
                f"tokens to ids {ids[order][:5].tolist()}...; expected one id each from "
                f"{self.token_start} on (what tf-keras writes)")
        self._set_vocabulary([self._check_token(keys[i], "vocabulary entry") for i in order],
                             f"{where} lookup table")

    def set_weights(self, arrays):
        arrays = [np.asarray(a) for a in arrays]
        if self.mode != "tf_idf":
            if arrays:
                raise WeightsError(f"{self.where}: expects no weights, received {len(arrays)}")
            return
        if arrays:                               # vars/idf_weights (Keras 3) or Variable:0
            idf = arrays[0]
            if idf.ndim != 1 or idf.dtype.kind not in "fiu":
                raise WeightsError(f"{self.where}: idf weights of shape {idf.shape} and dtype "
                                   f"{idf.dtype}, expected a vector of numbers")
            self.idf = idf.astype(np.float32)
        self._weights = [self.idf] if self.idf is not None else []

    def check_loaded(self, path: str) -> None:
        """After loading: the vocabulary (and tf_idf weights) must be somewhere."""
        if self.index is None:
            raise WeightsError(
                f"{path}: layer {self.name!r} ({self.class_name}) has no vocabulary: the "
                f"config has none (the layer was adapted) and the file holds none (only "
                f".keras archives and SavedModel directories keep an adapted vocabulary; "
                f".h5 files, weights files and TF checkpoints lose it)")
        if self.mode == "tf_idf":
            if self.idf is None:
                raise WeightsError(f"{path}: layer {self.name!r} ({self.class_name}) has no "
                                   f"tf_idf weights in the file or the config")
            if len(self.idf) != self.depth:
                raise WeightsError(f"{path}: layer {self.name!r} has {len(self.idf)} idf "
                                   f"weights for an output of {self.depth}")

    # ----- lookup ---------------------------------------------------------------------------
    def lookup(self, keys: List[Any], where: str) -> np.ndarray:
        """Ids of ``keys`` (already keyed), as ``_lookup_dense``: mask, vocabulary, OOV."""
        if self.index is None:
            raise WeightsError(f"{self.where}: no vocabulary was loaded")
        get = self.index.get
        default = self.oov_start if self.num_oov else -1
        ids = np.fromiter((get(k, default) for k in keys), np.int64, len(keys))
        if self.mask_token is not None:
            mk = self._key(self.mask_token)
            masked = np.fromiter((k == mk for k in keys), bool, len(keys))
            ids[masked] = 0 if self.mode == "int" else _MASKED
        if not self.num_oov and (ids == -1).any():
            bad = keys[int(np.argmax(ids == -1))]
            raise InputError(f"{where}: {bad!r:.80} is not in the vocabulary, and "
                             f"num_oov_indices=0 allows no unknown tokens")
        return ids

    def encode(self, ids: np.ndarray, where: str) -> np.ndarray:
        """``ids`` in the output mode (int ids stay)."""
        if self.mode == "int":
            return ids
        if self.mode == "tf_idf":
            counts = encode_categorical(ids, "count", self.depth, np.float32, where)
            if self.idf is None:
                raise WeightsError(f"{self.where}: no tf_idf weights were loaded")
            return counts * self.idf
        return encode_categorical(ids, self.mode, self.depth, self.ctx.compat.lookup_bag_dtype,
                                  where)

    def describe(self):
        size = "?" if self.vocab_size is None else self.vocab_size
        return f"vocabulary={size}, output_mode={self.mode}"


class StringLookup(_IndexLookup):
    def _check_token(self, v, what):
        if v is None and what in ("mask_token", "oov_token"):
            return v
        if not isinstance(v, str):
            raise ConfigError(f"{self.where}: {what} {v!r:.80} must be a string")
        return v

    def _key(self, token):
        return token.encode("utf-8", "surrogatepass")

    def call(self, inputs, mask=None, training=None):
        x = np.asarray(single(inputs, self.where))
        if x.dtype.kind != "U":
            raise InputError(f"{self.where}: expects strings, received dtype {x.dtype}")
        ids = self.lookup(_utf8(x, self.where), self.where).reshape(x.shape)
        return self.encode(ids, self.where)


class IntegerLookup(_IndexLookup):
    default_oov = -1

    def __init__(self, *a):
        super().__init__(*a)
        dt = self.opt("vocabulary_dtype", "int64")
        if dt not in ("int64", None):
            self.refuse("vocabulary_dtype", dt, "int64")

    def _check_token(self, v, what):
        if v is None and what in ("mask_token", "oov_token"):
            return v
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or \
                not -2 ** 63 <= int(v) < 2 ** 63:
            raise ConfigError(f"{self.where}: {what} {v!r:.80} must be a 64-bit integer")
        return int(v)

    def _parse_lines(self, lines, where):
        try:
            return [int(line) for line in lines]
        except ValueError as e:
            raise WeightsError(f"{where}: the vocabulary of layer {self.name!r} holds a line "
                               f"that is not an integer: {e}") from None

    def call(self, inputs, mask=None, training=None):
        x = np.asarray(single(inputs, self.where))
        if x.dtype.kind not in "iu":
            raise InputError(f"{self.where}: expects integers, received dtype {x.dtype}")
        ids = self.lookup(x.astype(np.int64).reshape(-1).tolist(), self.where).reshape(x.shape)
        return self.encode(ids, self.where)


class TextVectorization(_IndexLookup):
    modes = ("int", "multi_hot", "count", "tf_idf")
    table_paths = (("_lookup_layer", "lookup_table"),)
    fixed = {"mask_token": "", "oov_token": "[UNK]", "num_oov_indices": 1}

    def __init__(self, *a):
        super().__init__(*a)
        for key, values in (("standardize", ("lower_and_strip_punctuation", "lower",
                                             "strip_punctuation", None)),
                            ("split", ("whitespace", "character", None))):
            v = self.config.get(key, values[0])
            if not (v is None or isinstance(v, str)):
                self.refuse(key, "a serialized function", ", ".join(map(str, values)) +
                            " (a callable is code from the file, which kerasrnn_infer never "
                            "runs)")
            if v not in values:
                self.refuse(key, v, ", ".join(map(str, values)))
        self.standardize = self.config.get("standardize", "lower_and_strip_punctuation")
        self.split = self.config.get("split", "whitespace")
        grams = self.opt("ngrams")
        if grams is None:
            self.ngrams: Optional[Tuple[int, ...]] = None
        elif isinstance(grams, (list, tuple)):
            self.ngrams = tuple(limits.check_dim(g, self.where, "ngrams", 1, 64) for g in grams)
        else:
            n = limits.check_dim(grams, self.where, "ngrams", 1, 64)
            self.ngrams = tuple(range(1, n + 1))
        if self.ngrams is not None and self.split is None:
            self.refuse("ngrams", grams, "None when split is None (TensorFlow would make "
                        "n-grams across the batch)")
        if self.bool_opt("ragged", False):
            self.refuse("ragged", True, "False")
        self.seq_len = self.int_opt("output_sequence_length", None, minimum=0)
        if self.seq_len is not None and self.mode != "int":
            raise ConfigError(f"{self.where}: output_sequence_length is only for int mode")

    def _check_token(self, v, what):
        return StringLookup._check_token(self, v, what)

    def _key(self, token):
        return token.encode("utf-8", "surrogatepass")

    def tokens(self, x: np.ndarray) -> List[List[bytes]]:
        texts = [standardize(t, self.standardize) for t in _utf8(x, self.where)]
        rows = [split(t, self.split, self.where) for t in texts] if self.split else \
            [[t] for t in texts]
        if self.ngrams:
            rows = [ngrams(r, self.ngrams) for r in rows]
        return rows

    def call(self, inputs, mask=None, training=None):
        x = np.asarray(single(inputs, self.where))
        if x.dtype.kind != "U":
            raise InputError(f"{self.where}: expects strings, received dtype {x.dtype}")
        if self.split is None:                      # whole texts are the tokens
            ids = self.lookup([standardize(t, self.standardize)
                               for t in _utf8(x, self.where)], self.where).reshape(x.shape)
            if self.mode != "int":
                return self.encode(ids, self.where)
            if self.seq_len is None:
                return ids
            if ids.ndim < 2:       # Keras would cut and pad the batch axis itself
                raise InputError(f"{self.where}: with split=None and output_sequence_length, "
                                 f"expects texts of shape (batch, n), received {x.shape}")
            ids = ids[..., :self.seq_len]           # Keras: truncate, then pad with 0
            pad = [(0, 0)] * (ids.ndim - 1) + [(0, self.seq_len - ids.shape[-1])]
            return np.pad(ids, pad)
        if x.ndim > 1:
            if x.shape[-1] != 1 or x.ndim > 2:
                raise InputError(f"{self.where}: expects texts of shape (batch,) or (batch, 1), "
                                 f"received {x.shape}")
            x = x[..., 0]
        if x.ndim != 1:
            raise InputError(f"{self.where}: expects texts of shape (batch,) or (batch, 1), "
                             f"received {x.shape}")
        rows = self.tokens(x)
        lengths = np.array([len(r) for r in rows], np.int64)
        flat = self.lookup([t for r in rows for t in r], self.where)
        if self.mode == "int":
            width = self.seq_len if self.seq_len is not None else \
                int(lengths.max()) if len(rows) else 0
            limits.check_elements((len(rows), width), self.where, "the token ids")
            out = np.zeros((len(rows), width), np.int64)
            keep = np.minimum(lengths, width)
            r = np.repeat(np.arange(len(rows)), lengths)
            c = np.concatenate([np.arange(n) for n in lengths]) if len(rows) else \
                np.zeros(0, np.int64)
            sel = c < keep[r]
            out[r[sel], c[sel]] = flat[sel]
            return out
        # bags: one row per text (a ragged batch, so rows of different lengths)
        r = np.repeat(np.arange(len(rows)), lengths)
        valid = (flat >= 0) & (flat < self.depth)
        counts = np.zeros((len(rows), self.depth), np.float32 if self.mode == "tf_idf" else
                          self.ctx.compat.lookup_bag_dtype)
        if self.mode == "multi_hot":
            counts[r[valid], flat[valid]] = 1
            return counts
        np.add.at(counts, (r[valid], flat[valid]), 1)
        if self.mode == "tf_idf":
            if self.idf is None:
                raise WeightsError(f"{self.where}: no tf_idf weights were loaded")
            return counts * self.idf
        return counts

    def describe(self):
        return (f"standardize={self.standardize}, split={self.split}, " +
                super().describe())


__all__ = ["IntegerLookup", "StringLookup", "TextVectorization", "ngrams", "split",
           "standardize"]

