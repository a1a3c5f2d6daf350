"""Custom layers: a layer class the file names and the user implements in NumPy through
``custom_objects``.

The factory receives ``(config, weights)`` and returns ``layer(inputs, mask=None)``, which may
have a ``compute_mask(inputs, mask)`` attribute. ``weights`` are every array the file holds for
the layer, in the file's order: a legacy HDF5 file's ``weight_names`` order; in a Keras 3
weights tree, the layer's own ``vars`` first, then each group below it depth first in name
order. Keras 3 saves a sublayer under the name of the attribute that holds it, so a layer
with ``self.zq = Dense(...)`` and ``self.av = Dense(..., use_bias=False)`` gives
``[own vars..., av kernel, zq kernel, zq bias]`` (not Keras's ``get_weights`` order, which
follows the order the attributes were set and is not in the file). In a TF checkpoint or
SavedModel: the variables below the layer's object, depth first in the order tf.keras
tracked them (``add_weight`` calls and sublayer attributes, as they were set).
``weights.paths`` names where each array came from (``"vars/0"``, ``"zq/vars/1"``; legacy
files: the weight name; TF checkpoints: child names, ``"kernel"``, ``"dense/bias"``).
"""

from __future__ import annotations

import numpy as np

from ..errors import ConfigError, InputError, KerasRnnInferError, UnsupportedError
from .base import Layer

#: what a factory is, for messages
CONTRACT = ("a NumPy factory(config, weights) that returns a callable layer(inputs, "
            "mask=None) (optionally with compute_mask(inputs, mask))")


def keras_class(obj) -> str:
    """``module.Class`` when ``obj`` is a Keras / TensorFlow class (a Keras layer class passed
    where a NumPy factory belongs), else ''. Looks at module names only: imports nothing."""
    if not isinstance(obj, type):
        return ""
    for base in obj.__mro__:
        if (getattr(base, "__module__", "") or "").split(".")[0] in \
                ("keras", "tf_keras", "tensorflow"):
            return f"{obj.__module__}.{obj.__qualname__}"
    return ""


class WeightList(list):
    """A custom layer's arrays, with ``paths``: where each came from in the file."""

    def __init__(self, arrays=(), paths=None):
        super().__init__(arrays)
        self.paths = list(paths) if paths is not None else [None] * len(self)


class CustomLayer(Layer):
    streaming = "a custom layer may mix timesteps"

    def __init__(self, class_name, name, config, ctx, factory):
        super().__init__(class_name, name, config, ctx)
        cls = keras_class(factory)
        if cls:
            raise UnsupportedError(
                f"{self.where}: custom_objects[{class_name!r}] is the Keras layer class {cls}; "
                f"kerasrnn_infer runs NumPy, not Keras layers, and needs {CONTRACT}: it "
                f"receives the layer's config dict and its weight arrays from the file and "
                f"computes the layer's output with NumPy. Keras's own classes go to real Keras "
                f"(testing: keras_custom_objects=; command line: KERAS_CUSTOM_OBJECTS in the "
                f"--custom module)")
        if not callable(factory):
            raise ConfigError(f"{self.where}: custom_objects[{class_name!r}] is a "
                              f"{type(factory).__name__}, not {CONTRACT}")
        self.factory = factory
        self.fn = None
        self.slots = None     # unknown until the file says

    def set_weights(self, arrays):
        self._weights = [np.asarray(a) for a in arrays]
        paths = getattr(arrays, "paths", None)
        self._paths = list(paths) if paths is not None else [None] * len(self._weights)
        try:
            self.fn = self.factory(dict(self.config), WeightList(self._weights, paths))
        except KerasRnnInferError:
            raise
        except Exception as e:
            raise ConfigError(f"{self.where}: the custom_objects factory failed: "
                              f"{type(e).__name__}: {e}") from e
        if not callable(self.fn):
            raise ConfigError(f"{self.where}: the custom_objects factory returned "
                              f"{type(self.fn).__name__}, expected a callable layer")

    def get_weights(self) -> "WeightList":
        return WeightList([w.copy() for w in self._weights], getattr(self, "_paths", None))

    def call(self, inputs, mask=None, **kwargs):
        if self.fn is None:
            self.set_weights([])
        try:
            return self.fn(inputs, mask=mask, **kwargs) if kwargs else self.fn(inputs, mask=mask)
        except KerasRnnInferError:
            raise
        except Exception as e:
            raise InputError(f"{self.where}: the custom layer raised "
                             f"{type(e).__name__}: {e}") from e

    def compute_mask(self, inputs, mask):
        fn = getattr(self.fn, "compute_mask", None)
        return fn(inputs, mask) if fn is not None else None
