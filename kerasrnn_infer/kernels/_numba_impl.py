"""The numba-compiled loops of kernels/numba_rnn.py (imported, and numba with it, only when
that kernel is used). Module-level functions, so that numba's disk cache applies; the
per-timestep helpers ``advance`` and ``cell_step`` are inlined into ``seq`` (a call passing
a dozen arrays costs more than a masked timestep).

Each activation runs as its own loop over a gate block (``apply``), so that LLVM vectorises
it. ``tanh`` of float32 values is computed in float32 without a libm call: the continued
fraction of tanh to 8 terms on ``|x| / 8`` (coefficients scaled so that nothing overflows),
then ``tanh(2y) = 2 tanh(y) / (1 + tanh(y)^2)`` three times on numerator and denominator
(one division in all; relative errors do not grow): within 2.4e-7 of float64 ``tanh`` and of
NumPy's float32 ``tanh`` over [-12, 12] (measured). float64 values use libm's ``tanh``.

Gate order is Keras's (LSTM i f c o, GRU z r h); sigmoid is ``0.5 tanh(x / 2) + 0.5`` and the
other activations use the NumPy kernel's formulas, in the arrays' own precision (``cst``:
0.5, 0.2, 6, 1, 0 of that dtype).
"""

import ctypes
import math

import numpy as np
from numba import njit, types

from . import _blas

_jit = njit(cache=True, nogil=True, fastmath=False, boundscheck=False, error_model="numpy")
_inline = njit(cache=True, nogil=True, fastmath=False, boundscheck=False, error_model="numpy",
               inline="always")
_CLAMP = 9.5           # float32 tanh is 1.0 beyond 9.02
_P1, _P2, _P3 = 270270 / 2027025, 6930 / 2027025, 36 / 2027025
_Q1, _Q2, _Q3, _Q4 = 945945 / 2027025, 51975 / 2027025, 630 / 2027025, 1 / 2027025

# NumPy's cblas gemm (kernels/_blas.py) as external symbols, resolved when compiled code is
# linked (also code loaded from the disk cache). Without it the symbols name a do-nothing
# placeholder that ``seq`` never calls (``use_blas`` is then False).
HAVE_BLAS = _blas.SGEMM is not None
_KEEP: list = []
_addrs = (_blas.SGEMM, _blas.DGEMM)
if not HAVE_BLAS:
    _KEEP = [_blas._gemm_type(r)(lambda *a: None) for r in (ctypes.c_float, ctypes.c_double)]
    _addrs = (ctypes.cast(_KEEP[0], ctypes.c_void_p).value,
              ctypes.cast(_KEEP[1], ctypes.c_void_p).value)


def _register():
    import llvmlite.binding as llvm
    llvm.add_symbol("kerasrnn_infer_sgemm", _addrs[0])
    llvm.add_symbol("kerasrnn_infer_dgemm", _addrs[1])


_register()
_I, _P = types.int64, types.voidptr
_sgemm = types.ExternalFunction("kerasrnn_infer_sgemm", types.void(
    _I, _I, _I, _I, _I, _I, types.float32, _P, _I, _P, _I, types.float32, _P, _I))
_dgemm = types.ExternalFunction("kerasrnn_infer_dgemm", types.void(
    _I, _I, _I, _I, _I, _I, types.float64, _P, _I, _P, _I, types.float64, _P, _I))


@_jit
def tanh32(v):
    one, two = np.float32(1.0), np.float32(2.0)
    a = min(abs(v), np.float32(_CLAMP)) * np.float32(0.125)
    z = a * a
    p = a * (one + z * (np.float32(_P1) + z * (np.float32(_P2) + z * np.float32(_P3))))
    q = one + z * (np.float32(_Q1) + z * (np.float32(_Q2) + z * (np.float32(_Q3)
                                                              + z * np.float32(_Q4))))
    p, q = two * p * q, p * p + q * q
    p, q = two * p * q, p * p + q * q
    p, q = two * p * q, p * p + q * q
    t = p / q
    return t if v >= 0 else -t


@_jit
def apply(code, a, cst, fast):
    """Activation ``code`` over ``a``, in place (loops over ``range(len)`` of views only:
    an index whose sign numba cannot see gets a wraparound branch, and no loop with one
    vectorises)."""
    h = cst[0]
    n = a.shape[0]
    if code == 1:
        if fast:
            for j in range(n):
                a[j] = tanh32(a[j])
        else:
            for j in range(n):
                a[j] = math.tanh(a[j])
    elif code == 2:
        if fast:
            for j in range(n):
                a[j] = h * tanh32(h * a[j]) + h
        else:
            for j in range(n):
                a[j] = h * math.tanh(h * a[j]) + h
    elif code == 3:
        for j in range(n):
            a[j] = max(a[j], cst[4])
    elif code == 4:
        for j in range(n):
            a[j] = min(max(a[j] * cst[1] + h, cst[4]), cst[3])
    elif code == 5:
        for j in range(n):
            a[j] = min(max(a[j] / cst[2] + h, cst[4]), cst[3])
    elif code == 6:
        for j in range(n):
            a[j] = a[j] / (abs(a[j]) + cst[3])
    elif code == 7:
        for j in range(n):
            a[j] = min(max(a[j], cst[4]), cst[2])


@_jit
def recurrent(h, U, out):
    """out = h U: four rows of U at a time (the loop over outputs vectorises)."""
    u = h.shape[0]
    out[:] = 0
    k = 0
    while k + 4 <= u:
        h0, h1, h2, h3 = h[k], h[k + 1], h[k + 2], h[k + 3]
        r0, r1, r2, r3 = U[k], U[k + 1], U[k + 2], U[k + 3]
        for j in range(out.shape[0]):
            out[j] += h0 * r0[j] + h1 * r1[j] + h2 * r2[j] + h3 * r3[j]
        k += 4
    while k < u:
        hk, r = h[k], U[k]
        for j in range(out.shape[0]):
            out[j] += hk * r[j]
        k += 1


@_jit
def sig32(v, h):
    return h * tanh32(h * v) + h


@_jit
def lstm_fused(x, z, c, h, cst):
    """LSTM units with sigmoid gates and tanh, float32: one vectorised loop."""
    u = h.shape[0]
    hf = cst[0]
    xi, xf, xc, xo = x[:u], x[u:2 * u], x[2 * u:3 * u], x[3 * u:]
    zi, zf, zc, zo = z[:u], z[u:2 * u], z[2 * u:3 * u], z[3 * u:]
    for j in range(u):
        i = sig32(xi[j] + zi[j], hf)
        f = sig32(xf[j] + zf[j], hf)
        g = tanh32(xc[j] + zc[j])
        o = sig32(xo[j] + zo[j], hf)
        cc = f * c[j] + i * g
        c[j] = cc
        h[j] = o * tanh32(cc)


@_jit
def gru_fused(x, z, b_rec, h, cst):
    """GRU (reset_after) units with sigmoid gates and tanh, float32: one loop."""
    u = h.shape[0]
    hf = cst[0]
    xz, xr, xh = x[:u], x[u:2 * u], x[2 * u:]
    zz, zr, zh = z[:u], z[u:2 * u], z[2 * u:]
    bz, br, bh = b_rec[:u], b_rec[u:2 * u], b_rec[2 * u:]
    for j in range(u):
        zg = sig32(xz[j] + (zz[j] + bz[j]), hf)
        rg = sig32(xr[j] + (zr[j] + br[j]), hf)
        hh = tanh32(xh[j] + rg * (zh[j] + bh[j]))
        h[j] = hh + zg * (h[j] - hh)


@_inline
def cell_step(kind, reset_after, x, z, h, c, U_h, b_rec, g, tmp, cst, act_code, ract_code,
              fast):
    """One timestep of one sample: ``x`` the input projection, ``z`` the recurrent product
    ``h U`` (GRU without reset_after: ``h U_zr``, the candidate's ``(r h) U_h`` is computed
    here), ``h`` (and ``c``) updated in place."""
    u = h.shape[0]
    common = fast and act_code == 1 and ract_code == 2              # tanh, sigmoid
    if kind == 1 and common:
        lstm_fused(x, z, c, h, cst)
    elif kind == 2 and reset_after and common:
        gru_fused(x, z, b_rec, h, cst)
    elif kind == 0 and act_code == 1 and fast:
        for j in range(u):
            h[j] = tanh32(x[j] + z[j])
    elif kind == 1:                                                 # LSTM i f c o
        for j in range(4 * u):
            g[j] = x[j] + z[j]
        gi, gf, gc, go = g[:u], g[u:2 * u], g[2 * u:3 * u], g[3 * u:4 * u]
        apply(ract_code, g[:2 * u], cst, fast)
        apply(act_code, gc, cst, fast)
        apply(ract_code, go, cst, fast)
        for j in range(u):
            c[j] = gf[j] * c[j] + gi[j] * gc[j]
            tmp[j] = c[j]
        apply(act_code, tmp, cst, fast)
        for j in range(u):
            h[j] = go[j] * tmp[j]
    elif kind == 2:                                                 # GRU z r h
        gz, gr, gh = g[:u], g[u:2 * u], g[2 * u:3 * u]
        xh, zh = x[2 * u:], z[2 * u:]
        if reset_after:
            for j in range(2 * u):
                g[j] = x[j] + (z[j] + b_rec[j])
            apply(ract_code, g[:2 * u], cst, fast)
            bh = b_rec[2 * u:]
            for j in range(u):
                tmp[j] = xh[j] + gr[j] * (zh[j] + bh[j])
        else:
            for j in range(2 * u):
                g[j] = x[j] + z[j]
            apply(ract_code, g[:2 * u], cst, fast)
            for j in range(u):
                gh[j] = gr[j] * h[j]
            recurrent(gh, U_h, zh)
            for j in range(u):
                tmp[j] = xh[j] + zh[j]
        apply(act_code, tmp, cst, fast)
        for j in range(u):
            h[j] = tmp[j] + gz[j] * (h[j] - tmp[j])
    else:                                                           # SimpleRNN
        for j in range(u):
            tmp[j] = x[j] + z[j]
        apply(act_code, tmp, cst, fast)
        for j in range(u):
            h[j] = tmp[j]


@_jit
def recurrent_batch(H, U, Z, active, n):
    """Z[i, :U.shape[1]] = H[i] U for the first ``n`` samples with ``active[i]``: four rows of
    U at a time, each used for every sample while it is in cache (one pass over U per product,
    whatever the batch). All arrays C-contiguous (else nothing vectorises)."""
    u = H.shape[1]
    G = U.shape[1]
    for i in range(n):
        if active[i]:
            z = Z[i]
            for j in range(G):
                z[j] = 0
    k = 0
    while k + 4 <= u:
        r0, r1, r2, r3 = U[k], U[k + 1], U[k + 2], U[k + 3]
        for i in range(n):
            if active[i]:
                h0, h1, h2, h3 = H[i, k], H[i, k + 1], H[i, k + 2], H[i, k + 3]
                z = Z[i]
                for j in range(G):
                    z[j] += h0 * r0[j] + h1 * r1[j] + h2 * r2[j] + h3 * r3[j]
        k += 4
    while k < u:
        r = U[k]
        for i in range(n):
            if active[i]:
                hk, z = H[i, k], Z[i]
                for j in range(G):
                    z[j] += hk * r[j]
        k += 1


@_inline
def advance(kind, reset_after, xw_t, Z, states, step, out_seq, last, zero_out,
            U_h, b_rec, g, tmp, active, cst, act_code, ract_code, has_mask, want_seq, fast):
    """One timestep of every sample, after its recurrent product ``Z`` (b, G): ``xw_t``
    (b, G) the input projection of timestep ``t``; ``active`` (b,) the mask's column
    ``t``; the output goes to ``last`` (with masks) and ``out_seq[:, step]``."""
    b = Z.shape[0]
    n = states.shape[0]
    u = states.shape[2]
    for i in range(b):
        h = states[0, i]
        if active[i]:
            cell_step(kind, reset_after, xw_t[i], Z[i], h, states[n - 1, i], U_h, b_rec,
                      g, tmp, cst, act_code, ract_code, fast)
            if has_mask:
                for j in range(u):
                    last[i, j] = h[j]
        elif zero_out:
            for j in range(u):
                last[i, j] = cst[4]
        if want_seq:
            src = last[i] if has_mask else h
            for j in range(u):
                out_seq[i, step, j] = src[j]


@_jit
def gemm(A, m, k, B, C, ldc, fast):
    """C[:m, :B.shape[1]] = A[:m, :k] B by NumPy's BLAS (row-major gemm; ``A``, ``C`` any
    arrays whose data start at the matrices' first elements, rows ``k`` and ``ldc`` apart)."""
    n = B.shape[1]
    if fast:
        _sgemm(101, 111, 111, m, n, k, np.float32(1.0), A.ctypes.data, k, B.ctypes.data, n,
               np.float32(0.0), C.ctypes.data, ldc)
    else:
        _dgemm(101, 111, 111, m, n, k, np.float64(1.0), A.ctypes.data, k, B.ctypes.data, n,
               np.float64(0.0), C.ctypes.data, ldc)


@_jit
def project(xt, lo, hi, W, b_in, XW, everyone, use_blas, fast):
    """XW[:hi - lo] = xt[lo:hi] W + b_in: the input projection of timesteps lo..hi-1 of every
    sample (``xt`` time-major), one product."""
    b = xt.shape[1]
    G = W.shape[1]
    if use_blas:
        gemm(xt[lo:hi], (hi - lo) * b, xt.shape[2], W, XW, G, fast)
    else:
        for t in range(lo, hi):
            recurrent_batch(xt[t], W, XW[t - lo], everyone, b)
    for t in range(hi - lo):
        for i in range(b):
            r = XW[t, i]
            for j in range(G):
                r[j] += b_in[j]


@_jit
def seq(kind, reset_after, xt, W, b_in, rec, U_h, b_rec, states, mask, counts, backwards,
        out_seq, last, zero_out, act_code, ract_code, mode, want_seq, cst, fast, use_blas,
        chunk):
    """The whole sequence of every sample. ``xt`` (T, b, F) is the input, time-major.

    ``chunk`` > 0: the input projection ``x W + b_in`` is computed ``chunk`` timesteps at a
    time (one product each, kept in cache) and each timestep's recurrent product ``h rec``
    is one more; ``rec`` is the recurrent kernel (GRU without reset_after: its z and r columns
    only). ``chunk`` == 0 (LSTM and SimpleRNN): ``W`` is the stacked ``[U; W]`` and a timestep
    is one product ``[h | x_t] [U; W]``, plus ``b_in`` in the gates.

    ``mode``: 0 no mask; 1 ``mask`` (b, T); 2 the samples active at time t are the first
    ``counts[t]`` (a padding mask with samples sorted by length), the others' products are
    not computed. ``states`` (n, b, u) are updated in place; ``last`` (b, u) starts as the
    previous output and ends as the last one (with masks; else it is the last state).
    Products are BLAS calls (``use_blas``) or the hand-written loops."""
    T, b, F = xt.shape
    G = W.shape[1]
    u = states.shape[2]
    merged = chunk == 0
    XW = np.empty((max(chunk, 1), b, G), xt.dtype)
    Z = np.empty((b, G), xt.dtype)
    g = np.empty(G, xt.dtype)
    tmp = np.empty(u, xt.dtype)
    active = np.ones(b, np.bool_)
    everyone = np.ones(b, np.bool_)
    X = np.empty((b, u + F) if merged else (1, 1), xt.dtype)
    if merged:
        for i in range(b):
            XW[0, i] = b_in
    has_mask = mode != 0
    # timesteps where some sample is active (padding masks: one run of them); the others
    # need no projection and no product
    first, stop = 0, T
    if mode == 2:
        while first < T and counts[first] == 0:
            first += 1
        while stop > first and counts[stop - 1] == 0:
            stop -= 1
    lo, hi = 0, 0
    for step in range(T):
        t = T - 1 - step if backwards else step
        n = b
        if mode == 1:
            for i in range(b):
                active[i] = mask[i, t]
        elif mode == 2:
            n = counts[t]
            for i in range(b):
                active[i] = i < n
        if n > 0 and not merged and (t < lo or t >= hi):
            if backwards:
                lo, hi = max(first, t - chunk + 1), t + 1
            else:
                lo, hi = t, min(stop, t + chunk)
            project(xt, lo, hi, W, b_in, XW, everyone, use_blas, fast)
        if n > 0:
            if merged:
                for i in range(n):
                    X[i, :u] = states[0, i]
                    X[i, u:] = xt[t, i]
                if use_blas:
                    gemm(X, n, u + F, W, Z, G, fast)
                else:
                    recurrent_batch(X, W, Z, active, n)
            elif use_blas:
                gemm(states[0], n, u, rec, Z, G, fast)
            elif b == 1:
                recurrent(states[0, 0], rec, Z[0, :rec.shape[1]])
            else:
                recurrent_batch(states[0], rec, Z, active, n)
        xw_t = XW[0] if merged or n == 0 else XW[t - lo]
        advance(kind, reset_after, xw_t, Z, states, step, out_seq, last, zero_out, U_h, b_rec,
                g, tmp, active, cst, act_code, ract_code, has_mask, want_seq, fast)


@_jit
def classify(m):
    """How ``seq`` applies the mask ``m`` (b, T): (mode, counts, order, reordered). Mode 0:
    nothing masked. Mode 2, padding: every sample's unmasked steps are one run, and either
    all runs start at step 0 or all end at the last step; ``order`` sorts the samples by
    their number of unmasked steps, longest first (stable), so that the samples active at
    step t are the first ``counts[t]`` of that order; ``reordered`` is whether the order
    differs from the given one. Mode 1: any other mask."""
    b, T = m.shape
    lengths = np.zeros(b, np.int64)
    firsts = np.zeros(b, np.int64)
    counts = np.zeros(T, np.int64)
    right, left, everything = True, True, True
    for i in range(b):
        n, first, ended, runs = 0, 0, False, True
        for t in range(T):
            if m[i, t]:
                if n == 0:
                    first = t
                elif ended:
                    runs = False
                n += 1
            elif n > 0:
                ended = True
        lengths[i], firsts[i] = n, first
        everything = everything and n == T
        if not runs:
            right = left = False
        elif n > 0:
            right = right and first == 0
            left = left and first + n == T
    order = np.arange(b)
    if everything:
        return 0, counts, order, False
    if not (right or left):
        return 1, counts, order, False
    order = np.argsort(-lengths, kind="mergesort")
    reordered = False
    for k in range(b):
        i = order[k]
        reordered = reordered or i != k
        for t in range(firsts[i], firsts[i] + lengths[i]):
            counts[t] += 1
    return 2, counts, order, reordered
