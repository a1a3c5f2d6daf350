"""Train the small example model bundled with kerasrnn_infer (``kerasrnn-infer demo``).

Task: given the last values of a noisy sine wave (random frequency, phase and amplitude),
predict the next, noise-free value. The data is generated here. Model (Keras 3):
Input(None, 1) -> GRU(16, return_sequences) -> LSTM(8) -> Dense(1), trained for a few epochs.

Writes, next to the package code:
  kerasrnn_infer/data/demo.keras   the trained model (a few tens of KB)
  kerasrnn_infer/data/demo_io.npz  held-out inputs and Keras's outputs, final and per layer,
                                   in the golden layout (in/0, call0/out/0, layer/<name>/0)
                                   plus the true next values (target/0)

Needs TensorFlow and Keras 3 (pip install -e ".[test]"):

    python tools/train_demo.py [--epochs 8] [--seed 7]
"""

import argparse
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, "kerasrnn_infer", "data")
STEPS = 24


def make_data(rng, n, steps=STEPS):
    import numpy as np
    freq = rng.uniform(0.15, 0.45, (n, 1))
    phase = rng.uniform(0, 2 * np.pi, (n, 1))
    amp = rng.uniform(0.5, 1.0, (n, 1))
    t = np.arange(steps + 1)[None, :]
    clean = amp * np.sin(freq * t + phase)
    noisy = clean + rng.normal(0, 0.05, clean.shape)
    x = noisy[:, :steps, None].astype("float32")
    y = clean[:, steps:].astype("float32")
    return x, y


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", default=DATA, help="output folder (kerasrnn_infer/data)")
    args = parser.parse_args(argv)

    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import numpy as np
    import keras

    sys.path.insert(0, ROOT)
    from kerasrnn_infer.testing import assert_matches_keras, record_golden

    keras.utils.set_random_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    x_train, y_train = make_data(rng, 4000)
    x_val, y_val = make_data(rng, 400)
    x_demo, y_demo = make_data(rng, 6)

    L = keras.layers
    model = keras.Sequential([
        keras.Input((None, 1), name="series"),
        L.GRU(16, return_sequences=True, name="gru"),
        L.LSTM(8, name="lstm"),
        L.Dense(1, name="next_value"),
    ], name="noisy_sine")
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse")
    model.fit(x_train, y_train, epochs=args.epochs, batch_size=64,
              validation_data=(x_val, y_val), verbose=2)
    mse = float(model.evaluate(x_val, y_val, verbose=0))
    print(f"validation mse {mse:.5f} (predicting the last noisy value gives "
          f"{float(np.mean((x_val[:, -1, 0:1] - y_val) ** 2)):.5f})")

    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "demo.keras")
    model.save(path)
    golden = os.path.join(args.out, "demo_io.npz")
    record_golden(path, golden, inputs=x_demo)
    with np.load(golden) as z:                       # add the true next values
        arrays = {k: z[k] for k in z.files}
    arrays["target/0"] = y_demo
    np.savez_compressed(golden, **arrays)
    report = assert_matches_keras(path, golden=golden)
    print(report.text())
    for p in (path, golden):
        print(f"wrote {p} ({os.path.getsize(p) / 1024:.1f} KB)")


if __name__ == "__main__":
    sys.exit(main())
