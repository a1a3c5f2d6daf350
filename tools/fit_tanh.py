"""Derive the compiled kernel's float32 tanh (kerasrnn_infer/kernels/_numba_impl.py, ``tanh32``)
and measure it.

    python tools/fit_tanh.py            # fit, print the coefficients and the errors

The form: ``a = min(|x|, 9.5) / 2``, ``T = a P(a^2) / Q(a^2)`` with P and Q of degree 3
(Q(0) = 1), then ``tanh(x) = 2 T / (1 + T^2)`` carried on numerator and denominator, one
division. The fit minimises the largest relative error of ``T`` against float64 ``tanh`` on
(0, 4.75]: linearised least squares (``a P - tanh(a) Q = 0``, each equation divided by the
previous iterate's Q: Sanathanan-Koerner), its weights then raised where the error is largest
(Lawson), which approaches the minimax fit. The errors are then measured the way the kernel
computes: every operation in float32, in the kernel's order, on 2,000,001 evenly spaced values
of [-12, 12] and 100,000 log-spaced ones of [1e-8, 1] (and against the compiled kernel itself
when numba is installed).

Why not one rational fit over [0, 9.5]: fitted as well in float64, its float32 evaluation is
3e-7 to 4e-7 off near 1 (each of P and Q carries a few roundings and the ratio adds them);
the doubling's derivative vanishes at 1 and damps them.
"""

import numpy as np

CLAMP, HALF_RANGE = 9.5, 9.5 / 2
P_TERMS, Q_TERMS = 4, 3


def fit(iters=80, points=40000):
    a = np.linspace(0, HALF_RANGE, points + 1)[1:]
    t = np.tanh(a)
    s2 = HALF_RANGE ** 2                   # powers of a^2 / s2 stay in [0, 1] while fitting
    z = a * a / s2
    w = np.ones_like(a)
    q_prev = np.ones_like(a)
    for it in range(iters):
        cols = [a * z ** k for k in range(P_TERMS)] + [-t * z ** k for k in range(1, Q_TERMS + 1)]
        scale = w / (t * q_prev)
        sol, *_ = np.linalg.lstsq(np.stack(cols, 1) * scale[:, None], t * scale, rcond=None)
        P, Q = sol[:P_TERMS], sol[P_TERMS:]
        q_prev = 1 + sum(Q[k] * z ** (k + 1) for k in range(Q_TERMS))
        err = np.abs(a * sum(P[k] * z ** k for k in range(P_TERMS)) / q_prev - t) / t
        if it > 3:
            w = w * (err / err.max()) ** 0.3
            w /= w.max()
    # back to powers of a^2 itself
    return ([P[k] / s2 ** k for k in range(P_TERMS)],
            [Q[k] / s2 ** (k + 1) for k in range(Q_TERMS)], float(err.max()))


def tanh_float32(P, Q, x):
    """The kernel's computation, every step rounded to float32 (no fused multiply-adds:
    numba compiles without them)."""
    f = np.float32
    a = (np.minimum(np.abs(x), f(CLAMP)) * f(0.5)).astype(f)
    z = a * a
    p = np.full_like(z, f(P[-1]))
    for c in P[-2::-1]:
        p = p * z + f(c)
    p = a * p
    q = np.full_like(z, f(Q[-1]))
    for c in Q[-2::-1]:
        q = q * z + f(c)
    q = q * z + f(1)
    t = f(2) * p * q / (p * p + q * q)
    return np.where(x >= 0, t, -t)


def main():
    P, Q, rel = fit()
    print("P0..P3 =", ", ".join(repr(float(c)) for c in P))
    print("Q1..Q3 =", ", ".join(repr(float(c)) for c in Q))
    print(f"fit: largest relative error of T on (0, {HALF_RANGE}]: {rel:.2e}")
    x = np.concatenate([np.linspace(-12, 12, 2_000_001), np.logspace(-8, 0, 100_000)]
                       ).astype(np.float32)
    ref = np.tanh(x.astype(np.float64))
    y = tanh_float32(P, Q, x)
    print(f"float32 evaluation: largest |error| {np.abs(y - ref).max():.2e} against float64 "
          f"tanh, {np.abs(y - np.tanh(x)).max():.2e} against NumPy's float32 tanh; "
          f"largest |tanh| {np.abs(y).max():.9f}")
    try:
        from kerasrnn_infer.kernels import _numba_impl
    except ImportError:
        print("numba not installed: the compiled tanh not measured")
        return
    out = x.copy()
    _numba_impl.apply(1, out, np.array([0.5, 0.2, 6.0, 1.0, 0.0], np.float32), True)
    print(f"compiled tanh32: largest |error| {np.abs(out - ref).max():.2e} against float64 "
          f"tanh; differs from the float32 evaluation above by at most "
          f"{np.abs(out - y).max():.1e}")


if __name__ == "__main__":
    main()
