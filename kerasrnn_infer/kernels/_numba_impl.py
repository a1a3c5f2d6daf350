"""The numba-compiled loops of kernels/numba_rnn.py (imported, and numba with it, only when
that kernel is used). Module-level functions, so that numba's disk cache applies.

Each activation runs as its own loop over a gate block (``apply``), so that LLVM vectorises
it. ``tanh`` of float32 values is computed in float64 without a libm call: the continued
fraction of tanh to 8 terms on ``|x| / 8`` (error 6e-14 there), then ``tanh(2y) =
2 tanh(y) / (1 + tanh(y)^2)`` three times on numerator and denominator (one division in
all; errors do not grow), rounded to float32: correctly rounded over [-12, 12] (measured),
within an ulp of NumPy's. float64 values use libm's ``tanh``.

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
_CLAMP = 9.5           # float32 tanh is 1.0 beyond 9.02

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
    x = np.float64(v)
    a = min(abs(x), _CLAMP) * 0.125
    z = a * a
    p = a * (2027025.0 + z * (270270.0 + z * (6930.0 + z * 36.0)))
    q = 2027025.0 + z * (945945.0 + z * (51975.0 + z * (630.0 + z)))
    p, q = 2.0 * p * q, p * p + q * q
    p, q = 2.0 * p * q, p * p + q * q
    p, q = 2.0 * p * q, p * p + q * q
    t = np.float32(p / q)
    return t if x >= 0 else -t


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


@_jit
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
def recurrent_batch(H, U, Z, active):
    """Z[i, :U.shape[1]] = H[i] U for the samples with ``active[i]``: four rows of U at a
    time, each used for every sample while it is in cache (one pass over U per timestep,
    whatever the batch). All arrays C-contiguous (else nothing vectorises)."""
    b, u = H.shape
    G = U.shape[1]
    for i in range(b):
        if active[i]:
            z = Z[i]
            for j in range(G):
                z[j] = 0
    k = 0
    while k + 4 <= u:
        r0, r1, r2, r3 = U[k], U[k + 1], U[k + 2], U[k + 3]
        for i in range(b):
            if active[i]:
                h0, h1, h2, h3 = H[i, k], H[i, k + 1], H[i, k + 2], H[i, k + 3]
                z = Z[i]
                for j in range(G):
                    z[j] += h0 * r0[j] + h1 * r1[j] + h2 * r2[j] + h3 * r3[j]
        k += 4
    while k < u:
        r = U[k]
        for i in range(b):
            if active[i]:
                hk, z = H[i, k], Z[i]
                for j in range(G):
                    z[j] += hk * r[j]
        k += 1


@_jit
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
def blas_product(H, U, Z, fast):
    """Z[:, :U.shape[1]] = H U by NumPy's BLAS (row-major gemm; Z's rows may be wider)."""
    b, u = H.shape
    G = U.shape[1]
    if fast:
        _sgemm(101, 111, 111, b, G, u, np.float32(1.0), H.ctypes.data, u, U.ctypes.data, G,
               np.float32(0.0), Z.ctypes.data, Z.shape[1])
    else:
        _dgemm(101, 111, 111, b, G, u, np.float64(1.0), H.ctypes.data, u, U.ctypes.data, G,
               np.float64(0.0), Z.ctypes.data, Z.shape[1])


@_jit
def seq(kind, reset_after, xw, rec, U_h, b_rec, states, mask, backwards, out_seq, last,
        zero_out, act_code, ract_code, has_mask, want_seq, cst, fast, use_blas):
    """The whole sequence of every sample: ``xw`` (T, b, G) is the hoisted ``x W + b``;
    ``rec`` the recurrent kernel (GRU without reset_after: its z and r columns only);
    ``states`` (n, b, u) are updated in place; ``last`` (b, u) starts as the previous
    output and ends as the last one (with masks; else it is the last state). Each
    timestep's recurrent product is one BLAS call (``use_blas``) or one pass of the
    hand-written product over ``rec``."""
    T, b, G = xw.shape
    u = rec.shape[0]
    Z = np.empty((b, G), xw.dtype)
    g = np.empty(G, xw.dtype)
    tmp = np.empty(u, xw.dtype)
    active = np.ones(b, np.bool_)
    for step in range(T):
        t = T - 1 - step if backwards else step
        if has_mask:
            for i in range(b):
                active[i] = mask[i, t]
        if use_blas:
            blas_product(states[0], rec, Z, fast)
        else:
            recurrent_batch(states[0], rec, Z, active)
        advance(kind, reset_after, xw[t], Z, states, step, out_seq, last, zero_out,
                U_h, b_rec, g, tmp, active, cst, act_code, ract_code, has_mask, want_seq, fast)


# One entry point per cell kind: ``kind`` reaches ``seq`` (and, through it, ``advance`` and
# ``cell_step``) as a compile-time constant, whose dead branches numba prunes, so a model
# compiles the code of its own cell kinds only.
@_jit
def seq_simple_rnn(reset_after, xw, rec, U_h, b_rec, states, mask, backwards, out_seq, last,
                   zero_out, act_code, ract_code, has_mask, want_seq, cst, fast, use_blas):
    seq(0, reset_after, xw, rec, U_h, b_rec, states, mask, backwards, out_seq, last, zero_out,
        act_code, ract_code, has_mask, want_seq, cst, fast, use_blas)


@_jit
def seq_lstm(reset_after, xw, rec, U_h, b_rec, states, mask, backwards, out_seq, last,
             zero_out, act_code, ract_code, has_mask, want_seq, cst, fast, use_blas):
    seq(1, reset_after, xw, rec, U_h, b_rec, states, mask, backwards, out_seq, last, zero_out,
        act_code, ract_code, has_mask, want_seq, cst, fast, use_blas)


@_jit
def seq_gru(reset_after, xw, rec, U_h, b_rec, states, mask, backwards, out_seq, last,
            zero_out, act_code, ract_code, has_mask, want_seq, cst, fast, use_blas):
    seq(2, reset_after, xw, rec, U_h, b_rec, states, mask, backwards, out_seq, last, zero_out,
        act_code, ract_code, has_mask, want_seq, cst, fast, use_blas)


SEQ = (seq_simple_rnn, seq_lstm, seq_gru)
