"""Custom layers: a layer class the file names and the user implements in NumPy through
``custom_objects``.

The factory receives ``(config, weights)`` and returns ``layer(inputs, mask=None)``, which may
have a ``compute_mask(inputs, mask)`` attribute. ``weights`` are every array the file holds for
the layer, in the file's order: a legacy HDF5 file's ``weight_names`` order; in a Keras 3
weights tree, the layer's own ``vars`` first, then each group below it depth first in name
order (a sublayer held in an attribute is saved under that attribute's name, so an attention
layer with Dense sublayers ``dense_q`` and ``dense_v`` gives ``[own..., dense_q's...,
dense_v's...]``).
"""

from __future__ import annotations

import numpy as np

from ..errors import ConfigError, InputError, KerasRnnInferError
from .base import Layer


class CustomLayer(Layer):
    streaming = "a custom layer may mix timesteps"

    def __init__(self, class_name, name, config, ctx, factory):
        super().__init__(class_name, name, config, ctx)
        self.factory = factory
        self.fn = None
        self.slots = None     # unknown until the file says

    def set_weights(self, arrays):
        self._weights = [np.asarray(a) for a in arrays]
        try:
            self.fn = self.factory(dict(self.config), list(self._weights))
        except KerasRnnInferError:
            raise
        except Exception as e:
            raise ConfigError(f"{self.where}: the custom_objects factory failed: "
                              f"{type(e).__name__}: {e}") from e
        if not callable(self.fn):
            raise ConfigError(f"{self.where}: the custom_objects factory returned "
                              f"{type(self.fn).__name__}, expected a callable layer")

    def call(self, inputs, mask=None, **kwargs):
        if self.fn is None:
            self.set_weights([])
        try:
            return self.fn(inputs, mask=mask, **kwargs) if kwargs else self.fn(inputs, mask=mask)
        except KerasRnnInferError:
            raise
        except Exception as e:
            raise InputError(f"{self.where}: the custom layer raised {type(e).__name__}: {e}") from e

    def compute_mask(self, inputs, mask):
        fn = getattr(self.fn, "compute_mask", None)
        return fn(inputs, mask) if fn is not None else None
