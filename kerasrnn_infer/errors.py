"""The errors kerasrnn_infer raises.

Every error about a file, a config or an input derives from ``KerasRnnInferError``::

    KerasRnnInferError
    ├── ModelFileError          the file cannot be read: not a Keras file, corrupt, missing parts
    ├── ConfigError             the architecture JSON is malformed or inconsistent
    │   └── UnsupportedError    a layer class, option or value this library does not implement
    │       └── UnsafeModelError   the file asks to run code (Lambda, pickles, unknown
    │                              custom layers)
    ├── WeightsError            weights missing, extra, or of the wrong shape for the config
    ├── InputError              arrays given to predict do not fit the model's inputs
    │                           (also a ValueError, as Keras raises for bad inputs)
    ├── ArgumentError           a bad argument to an API call: no layer of that name
    │                           (get_layer), an unknown output, a Keras-only keyword that
    │                           means nothing here (also a ValueError, as in Keras)
    ├── SettingError            an environment variable of kerasrnn_infer has a bad value
    ├── UsageError              bad command-line arguments (the CLI exits 2)
    ├── ReferenceUnavailable    real Keras is missing or cannot load/run the model (verify)
    └── InternalError           a bug in kerasrnn_infer itself, named with the layer and inputs

Messages name the file, the layer and the offending value, and say what was expected.
"""

from __future__ import annotations

__all__ = ["ArgumentError", "ConfigError", "InputError", "InternalError", "KerasRnnInferError",
           "ModelFileError", "ReferenceUnavailable", "SettingError", "UnsafeModelError",
           "UnsupportedError", "UsageError", "WeightsError"]


class KerasRnnInferError(Exception):
    """Base class of every error kerasrnn_infer raises about files, configs and inputs."""


class ModelFileError(KerasRnnInferError):
    """The model file cannot be read as a Keras model."""


class ConfigError(KerasRnnInferError):
    """The model's architecture config is malformed or inconsistent."""


class UnsupportedError(ConfigError):
    """A layer class, option or value that this library does not implement."""


class UnsafeModelError(UnsupportedError):
    """The model would need code from the file (or code we do not have) to run."""


class WeightsError(KerasRnnInferError):
    """Weights are missing, extra or of the wrong shape for the layer."""


class InputError(KerasRnnInferError, ValueError):
    """Inputs given to the model do not match its input specs. Also a ``ValueError``, which is
    what Keras raises for inputs of the wrong shape."""


class ArgumentError(KerasRnnInferError, ValueError):
    """A bad argument to an API call: no layer of that name or index (``get_layer``), an
    output the model does not have, a Keras keyword that has no meaning here. Also a
    ``ValueError``, which is what Keras raises in these places."""


class SettingError(KerasRnnInferError):
    """An environment variable that configures kerasrnn_infer has a value it cannot use."""


class UsageError(KerasRnnInferError):
    """Bad command-line arguments: the CLI prints one line and exits 2."""


class ReferenceUnavailable(KerasRnnInferError):
    """Real Keras is unavailable or cannot load/run the model: there is no reference to
    compare with (``verify``, ``assert_matches_keras``)."""


class InternalError(KerasRnnInferError):
    """kerasrnn_infer itself failed (a bug): the message names the layer and the inputs'
    shapes; please report it with the model file."""
