"""The grids: which (layer, batch, steps, features, units) points are timed, and the models of
the process costs."""


def cfg(layer, batch, steps, features, units):
    return {"id": f"{layer}_b{batch}_t{steps}_f{features}_u{units}", "layer": layer,
            "batch": batch, "steps": steps, "features": features, "units": units}


# Full run: a handful of (batch, steps, units) points per layer type.
FULL_CONFIGS = [
    cfg("lstm", 1, 50, 16, 64),        # required: LSTM batch 1, 50 steps, 16 features, 64 units
    cfg("lstm", 1, 400, 32, 128),
    cfg("lstm", 8, 100, 32, 128),
    cfg("lstm", 32, 100, 64, 128),
    cfg("lstm", 32, 50, 64, 512),
    cfg("lstm", 256, 100, 64, 256),    # required: LSTM batch 256, 256 units
    cfg("gru", 1, 50, 16, 64),
    cfg("gru", 32, 100, 64, 256),
    cfg("gru", 256, 50, 64, 256),
    cfg("simple_rnn", 1, 400, 16, 32),
    cfg("simple_rnn", 32, 200, 64, 256),
    cfg("simple_rnn", 256, 10, 32, 512),
    cfg("bilstm", 1, 50, 16, 64),
    cfg("bilstm", 32, 100, 64, 128),
    cfg("bilstm", 256, 50, 64, 256),
]

# Quick run: this engine alone (no TensorFlow), small configs.
QUICK_CONFIGS = [
    cfg("lstm", 1, 50, 16, 64),
    cfg("gru", 8, 100, 32, 128),
    cfg("simple_rnn", 32, 50, 32, 64),
    cfg("bilstm", 1, 50, 16, 64),
    cfg("lstm", 256, 50, 64, 256),
]

LOAD_MODEL = {"layer": "lstm", "features": 64, "units": 768}   # 4*768*(64+768+1) floats = 10.2 MB
MEMORY_CONFIG = FULL_CONFIGS[0]


def select(quick, only=None, first=None):
    """The grid of the run: quick or full, filtered by --only substrings, cut to --configs."""
    configs = QUICK_CONFIGS if quick else FULL_CONFIGS
    if only:
        keys = only.split(",")
        configs = [c for c in configs if any(k in c["id"] for k in keys)]
    return configs[:first] if first else configs


def model_key(c):
    return f"{c['layer']}_f{c['features']}_u{c['units']}"
