"""Run trained Keras recurrent models (SimpleRNN, LSTM, GRU and the layers around them) in
NumPy, without TensorFlow, giving Keras's numbers.

    import kerasrnn_infer as kri
    model = kri.load_model("model.keras")      # or a legacy .h5, from Keras 1 to Keras 3
    y = model.predict(x)
"""

from .ctc import ctc_decode, ctc_decode_keras3
from .errors import (ArgumentError, ConfigError, InputError, InternalError, KerasRnnInferError,
                     ModelFileError, ReferenceUnavailable, SettingError, UnsafeModelError,
                     UnsupportedError, UsageError, WeightsError)
from .layers import supported_layers
from .layers.containers import TensorSpec
from .model import Model, load_model, model_from_json

__version__ = "0.1.0"

__all__ = [
    "ArgumentError",
    "ConfigError",
    "InputError",
    "InternalError",
    "KerasRnnInferError",
    "Model",
    "ModelFileError",
    "ReferenceUnavailable",
    "SettingError",
    "TensorSpec",
    "UnsafeModelError",
    "UnsupportedError",
    "UsageError",
    "WeightsError",
    "__version__",
    "ctc_decode",
    "ctc_decode_keras3",
    "load_model",
    "model_from_json",
    "supported_layers",
]
