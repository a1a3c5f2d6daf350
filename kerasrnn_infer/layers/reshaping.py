"""Reshaping layers: Flatten, Reshape, Permute, RepeatVector."""

from __future__ import annotations

import numpy as np

from .. import limits
from ..errors import ConfigError, InputError
from .base import Layer, single


class Flatten(Layer):
    def __init__(self, *a):
        super().__init__(*a)
        self.channels_first = self.choice_opt("data_format", "channels_last", (
            "channels_last", "channels_first")) == "channels_first"

    def call(self, inputs, mask=None, training=None):
        x = single(inputs, self.where)
        if self.channels_first and x.ndim > 2:
            x = np.moveaxis(x, 1, -1)
        return x.reshape(x.shape[0], int(np.prod(x.shape[1:])))


class Reshape(Layer):
    def __init__(self, *a):
        super().__init__(*a)
        target = self.require("target_shape")
        if not isinstance(target, (list, tuple)) or not all(
                isinstance(d, int) and not isinstance(d, bool) and
                (d == -1 or 0 <= d <= limits.MAX_DIM) for d in target) or \
                list(target).count(-1) > 1:
            raise ConfigError(f"{self.where}: target_shape={target!r:.100} must be a list of "
                              f"sizes (at most one -1)")
        self.target = list(target)
        limits.check_elements([d for d in target if d != -1], self.where, "target_shape")

    def call(self, inputs, mask=None, training=None):
        x = single(inputs, self.where)
        target = list(self.target)
        if -1 in target and x.shape[0] == 0:     # -1 cannot be inferred from an empty batch
            known = int(np.prod([d for d in target if d != -1]))
            target[target.index(-1)] = int(np.prod(x.shape[1:])) // max(known, 1)
        try:
            return x.reshape((x.shape[0], *target))
        except ValueError:
            raise InputError(f"{self.where}: cannot reshape input of shape {x.shape} to "
                             f"(batch, {', '.join(map(str, target))})") from None


class Permute(Layer):
    def __init__(self, *a):
        super().__init__(*a)
        dims = self.require("dims")
        if not isinstance(dims, (list, tuple)) or sorted(
                d if isinstance(d, int) else -1 for d in dims) != list(range(1, len(dims) + 1)):
            raise ConfigError(f"{self.where}: dims={dims!r:.100} must be a permutation of "
                              f"1..{len(dims) if isinstance(dims, (list, tuple)) else 'n'}")
        self.dims = list(dims)

    def call(self, inputs, mask=None, training=None):
        x = single(inputs, self.where)
        dims = self.dims
        if sorted(dims) != list(range(1, x.ndim)):
            raise InputError(f"{self.where}: dims={dims} do not permute an input of shape "
                             f"{x.shape}")
        return np.ascontiguousarray(x.transpose([0] + dims))


class RepeatVector(Layer):
    def __init__(self, *a):
        super().__init__(*a)
        self.require("n")
        self.n = self.int_opt("n")

    def call(self, inputs, mask=None, training=None):
        x = single(inputs, self.where)
        if x.ndim != 2:
            raise InputError(f"{self.where}: expects input of rank 2, received shape {x.shape}")
        limits.check_elements((self.n, x.shape[1]), self.where, "each repeated sample")
        return np.repeat(x[:, None, :], self.n, axis=1)
