"""The numba-compiled loops of kernels/numba_rnn.py (imported, and numba with it, only when
that kernel is used). Module-level functions, so that numba's disk cache applies; the
per-timestep helper ``advance`` is inlined into ``seq`` (a call passing a dozen arrays costs
more than a masked timestep).

Each activation runs as its own loop over a gate block (``apply``), so that LLVM vectorises
it. ``tanh`` of float32 values is computed in float32 without a libm call: ``T = tanh(a)``
for ``a = min(|x|, 9.5) / 2`` as a rational function ``a P(a^2) / Q(a^2)`` (P of degree 3,
Q of degree 3, fitted by tools/fit_tanh.py: relative error 4e-8 on [0, 4.75]), then
``tanh(2a) = 2 T / (1 + T^2)`` on numerator and denominator (one division in all; near 1 the
doubling damps the rounding errors, which a direct rational fit over [0, 9.5] does not):
within 1.9e-7 of float64 ``tanh`` over [-12, 12] (tools/fit_tanh.py: 2,000,001 evenly spaced
values and 100,000 log-spaced ones below 1), about 25 operations a value. float64 values
use libm's ``tanh``.

Gate order is Keras's (LSTM i f c o, GRU z r h); sigmoid is ``0.5 tanh(x / 2) + 0.5`` and the
other activations use the NumPy kernel's formulas, in the arrays' own precision (``cst``:
0.5, 0.2, 6, 1, 0 of that dtype).
"""

import math

import numpy as np
from numba import njit

from ._simd import mm, mm_order

_jit = njit(cache=True, nogil=True, fastmath=False, boundscheck=False, error_model="numpy")
_inline = njit(cache=True, nogil=True, fastmath=False, boundscheck=False, error_model="numpy",
               inline="always")
_CLAMP = 9.5           # float32 tanh is 1.0 beyond 9.02
# tools/fit_tanh.py: tanh(a) ~ a (P0 + P1 z + P2 z^2 + P3 z^3) / (1 + Q1 z + Q2 z^2 + Q3 z^3),
# z = a^2, on [0, 4.75]
_P0, _P1, _P2, _P3 = (0.9999999619755672, 0.12572859293510813, 0.002533828532809501,
                      5.34061837630135e-06)
_Q1, _Q2, _Q3 = 0.45906153256297383, 0.022221685020119106, 0.0001720995328766434


@_jit
def tanh32(v):
    one, two = np.float32(1.0), np.float32(2.0)
    a = min(abs(v), np.float32(_CLAMP)) * np.float32(0.5)
    z = a * a
    p = a * (np.float32(_P0) + z * (np.float32(_P1) + z * (np.float32(_P2)
                                                           + z * np.float32(_P3))))
    q = one + z * (np.float32(_Q1) + z * (np.float32(_Q2) + z * np.float32(_Q3)))
    t = two * p * q / (p * p + q * q)
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
def sig32(v, h):
    return h * tanh32(h * v) + h


@_jit
def lstm_fused(XW, t, Z, S, i, cst):
    """Sample ``i``'s LSTM units with sigmoid gates and tanh, float32: one vectorised loop
    (``XW[t, i]`` the input projection, ``Z[i]`` the recurrent product, ``S[0, i]`` and
    ``S[1, i]`` h and c; indexed, not viewed: see ``advance``)."""
    u = S.shape[2]
    hf = cst[0]
    for j in range(u):
        ig = sig32(XW[t, i, j] + Z[i, j], hf)
        fg = sig32(XW[t, i, u + j] + Z[i, u + j], hf)
        gg = tanh32(XW[t, i, 2 * u + j] + Z[i, 2 * u + j])
        og = sig32(XW[t, i, 3 * u + j] + Z[i, 3 * u + j], hf)
        cc = fg * S[1, i, j] + ig * gg
        S[1, i, j] = cc
        S[0, i, j] = og * tanh32(cc)


@_jit
def gru_fused(XW, t, Z, S, i, b_rec, cst):
    """Sample ``i``'s GRU (reset_after) units with sigmoid gates and tanh, float32."""
    u = S.shape[2]
    hf = cst[0]
    for j in range(u):
        zg = sig32(XW[t, i, j] + (Z[i, j] + b_rec[j]), hf)
        rg = sig32(XW[t, i, u + j] + (Z[i, u + j] + b_rec[u + j]), hf)
        hh = tanh32(XW[t, i, 2 * u + j] + rg * (Z[i, 2 * u + j] + b_rec[2 * u + j]))
        S[0, i, j] = hh + zg * (S[0, i, j] - hh)


@_jit
def rnn_fused(XW, t, Z, S, i):
    """Sample ``i``'s SimpleRNN units with tanh, float32."""
    for j in range(S.shape[2]):
        S[0, i, j] = tanh32(XW[t, i, j] + Z[i, j])


@_jit
def cell_general(kind, reset_after, x, z, h, c, U_h, b_rec, g, tmp, zc, cst, act_code,
                 ract_code, fast):
    """One timestep of one sample, any compiled activation: ``x`` the input projection,
    ``z`` the recurrent product ``h U`` (GRU without reset_after: ``h U_zr``; the candidate's
    ``(r h) U_h``, ``U_h`` packed, is computed here into ``zc``), ``h`` (and ``c``) updated in
    place."""
    u = h.shape[0]
    if kind == 1:                                                   # LSTM i f c o
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
            mm(gh, 1, U_h, zc)
            for j in range(u):
                tmp[j] = xh[j] + zc[j]
        apply(act_code, tmp, cst, fast)
        for j in range(u):
            h[j] = tmp[j] + gz[j] * (h[j] - tmp[j])
    else:                                                           # SimpleRNN
        for j in range(u):
            tmp[j] = x[j] + z[j]
        apply(act_code, tmp, cst, fast)
        for j in range(u):
            h[j] = tmp[j]


@_inline
def advance(kind, reset_after, XW, t, Z, states, n, step, out_seq, last, zero_out,
            U_h, b_rec, g, tmp, zc, active, cst, act_code, ract_code, has_mask, want_seq,
            fast):
    """One timestep of every sample, after the recurrent product ``Z`` (b, >= G) of the
    first ``n``: ``XW[t]`` (b, >= G) the input projection of the timestep; ``active`` (b,)
    the mask's column; the output goes to ``last`` (with masks) and ``out_seq[:, step]``.

    The common cells (float32, tanh and sigmoid) index the arrays rather than take views of
    them: a view costs a reference count taken and dropped (atomic), a few per sample and
    timestep, which measured 200 ns of a 400 ns LSTM step (32 units)."""
    b = Z.shape[0]
    k = states.shape[0]
    u = states.shape[2]
    common = fast and act_code == 1 and (kind == 0 or ract_code == 2)  # tanh, sigmoid
    for i in range(b):
        if i < n and active[i]:
            if common and kind == 1:
                lstm_fused(XW, t, Z, states, i, cst)
            elif common and kind == 2 and reset_after:
                gru_fused(XW, t, Z, states, i, b_rec, cst)
            elif common and kind == 0:
                rnn_fused(XW, t, Z, states, i)
            else:
                cell_general(kind, reset_after, XW[t, i], Z[i], states[0, i],
                             states[k - 1, i], U_h, b_rec, g, tmp, zc, cst, act_code,
                             ract_code, fast)
            if has_mask:
                for j in range(u):
                    last[i, j] = states[0, i, j]
        elif zero_out:
            for j in range(u):
                last[i, j] = cst[4]
        if want_seq:
            if has_mask:
                for j in range(u):
                    out_seq[i, step, j] = last[i, j]
            else:
                for j in range(u):
                    out_seq[i, step, j] = states[0, i, j]


@_jit
def project(xt, lo, hi, W, b_in, XW):
    """XW[:hi - lo, :, :G] = xt[lo:hi] W + b_in: the input projection of timesteps lo..hi-1
    of every sample (``xt`` time-major, ``W`` packed), one product."""
    b = xt.shape[1]
    G = b_in.shape[0]
    mm(xt[lo:hi], (hi - lo) * b, W, XW)
    for t in range(hi - lo):
        for i in range(b):
            r = XW[t, i]
            for j in range(G):
                r[j] += b_in[j]


@_jit
def seq(kind, reset_after, xt, W, b_in, rec, U_h, b_rec, states, mask, counts, backwards,
        out_seq, last, zero_out, act_code, ract_code, mode, want_seq, cst, fast, chunk, geo):
    """The whole sequence of every sample. ``xt`` (T, b, F) is the input, time-major;
    ``W``, ``rec`` and ``U_h`` are packed (kernels/_simd.py ``pack``).

    The input projection ``x W + b_in`` is computed ``chunk`` timesteps at a time (one
    product each, kept in cache), and each timestep's recurrent product ``h rec`` is one
    more; ``rec`` is the recurrent kernel (GRU without reset_after: its z and r columns only,
    and ``U_h`` its candidate's).

    ConvLSTM (``geo[0]`` > 0): ``chunk`` is 0 and ``xt`` (T, rows, >= G) is already the input
    projection, rows being (sample, pixel) pairs of a (H, W) map (``geo``: H, W, kernel height
    and width, top and left padding, rows per tile); each step's recurrent product is the
    "same" convolution of ``h``, its windows gathered (``windows``) a tile of rows at a time,
    each tile one product with ``rec``.

    ``mode``: 0 no mask; 1 ``mask`` (b, T); 2 the samples active at time t are the first
    ``counts[t]`` (a padding mask with samples sorted by length), the others' products are
    not computed. ``states`` (n, b, u) are updated in place; ``last`` (b, u) starts as the
    previous output and ends as the last one (with masks; else it is the last state)."""
    T, b, F = xt.shape
    width = W.shape[0] * W.shape[2]             # >= G, and >= rec's (panels are whole)
    u = states.shape[2]
    conv = geo[0] > 0
    XW = xt if conv else np.empty((chunk, b, width), xt.dtype)
    Z = np.empty((b, width), xt.dtype)
    g = np.empty(width, xt.dtype)
    tmp = np.empty(u, xt.dtype)
    zc = np.empty(U_h.shape[0] * U_h.shape[2], xt.dtype)
    # ConvLSTM: the windows of h (a row each), and h inside a zero border (see windows)
    cols = np.empty((min(b, geo[6]) if conv else 0, rec.shape[1]), xt.dtype)
    images = b // (geo[0] * geo[1]) if conv else 0
    hp = np.zeros(images * (geo[0] + geo[2] - 1) * (geo[1] + geo[3] - 1) * u, xt.dtype)
    active = np.ones(b, np.bool_)
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
    if conv:
        hi = T
    for step in range(T):
        t = T - 1 - step if backwards else step
        n = b
        if mode == 1:
            for i in range(b):
                active[i] = mask[i, t]
        elif mode == 2:
            n = counts[t]
        if n > 0:
            if t < lo or t >= hi:
                if backwards:
                    lo, hi = max(first, t - chunk + 1), t + 1
                else:
                    lo, hi = t, min(stop, t + chunk)
                project(xt, lo, hi, W, b_in, XW)
            if conv:
                # the windows of ``geo[6]`` rows at a time, each tile multiplied while it is
                # in cache (all at once, a 40x40 map of 40 filters at batch 4 is 9 MB of
                # windows, read from memory once per panel of ``rec``); tiles alternate
                # the panel order as steps do
                bordered(states, geo, hp)
                r0 = 0
                while r0 < n:
                    r1 = min(n, r0 + geo[6])
                    windows(geo, u, hp, cols, r0, r1)
                    mm_order(cols, r1 - r0, rec, Z[r0:], (step + r0 // geo[6]) % 2 == 1)
                    r0 = r1
            else:
                # states[0], without a view; every other step the panels last first, so
                # that each product starts on what the last one left in cache
                mm_order(states, n, rec, Z, step % 2 == 1)
        advance(kind, reset_after, XW, t - lo if n > 0 else 0, Z, states, n, step, out_seq,
                last, zero_out, U_h, b_rec, g, tmp, zc, active, cst, act_code, ract_code,
                has_mask, want_seq, fast)


@_jit
def seq_two(a, b):
    """``seq(*a)`` then ``seq(*b)``: the two halves of a Bidirectional layer in one call from
    Python (each call from Python unboxes every argument and costs microseconds of
    interpreter around it, a sizeable part of a small layer's time)."""
    seq(*a)
    seq(*b)


@_inline
def bordered(states, geo, hp):
    """Copy ``h`` (``states[0]``: rows are (sample, y, x) of an (H, W) map) into ``hp``, a
    zero-bordered (sample, H + kh - 1, W + kw - 1, channel) buffer (flat, its border zero from
    the start), so that each kernel row's span of a window is one contiguous run of it."""
    H, Wd, kh, kw, top, left = geo[0], geo[1], geo[2], geo[3], geo[4], geo[5]
    f = states.shape[2]
    Hp, Wp = H + kh - 1, Wd + kw - 1
    P = H * Wd
    fu = np.uint64(f)
    # unsigned offsets: numba then adds no negative-index wraparound to the copies, which
    # would keep them from vectorising
    for r in range(states.shape[1]):               # indexed, not viewed (see advance)
        img, p = r // P, r % P
        y, x = p // Wd, p % Wd
        d = np.uint64(((img * Hp + y + top) * Wp + x + left) * f)
        for ch in range(fu):
            hp[d + ch] = states[0, r, ch]


@_inline
def windows(geo, f, hp, cols, lo, hi):
    """``cols[r - lo]`` = the (kernel height, kernel width, channel) window of ``h`` around
    row r's pixel for rows ``lo`` to ``hi - 1``, zero outside the map ("same" padding, stride
    1), from ``hp`` (``bordered``): ``kh`` plain copies per row."""
    H, Wd, kh, kw = geo[0], geo[1], geo[2], geo[3]
    Hp, Wp = H + kh - 1, Wd + kw - 1
    P = H * Wd
    span = np.uint64(kw * f)
    for r in range(lo, hi):
        img, p = r // P, r % P
        y, x = p // Wd, p % Wd
        for dy in range(kh):
            src = np.uint64(((img * Hp + y + dy) * Wp + x) * f)
            o = np.uint64(dy) * span
            for e in range(span):
                cols[r - lo, o + e] = hp[src + e]


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


@_jit
def embed(ids, table, mask_zero):
    """An Embedding layer's lookup and mask made ready for ``seq``, in one call: the rows of
    ``table`` for token ids ``ids`` (b, T), time-major and in the sample order ``classify``
    gives the mask ``ids != 0`` (``mask_zero``; else no mask). Returns (bad, value, mode,
    counts, order, reordered, xt, mask): ``bad`` when an id is outside [0, len(table)), the
    first such (C order) as ``value``, the rest then unset; else ``classify``'s four and the
    input ``xt`` (T, b, F)."""
    b, T = ids.shape
    V, F = table.shape
    m = np.empty((b, T), np.bool_)
    for i in range(b):
        for t in range(T):
            k = ids[i, t]
            if k < 0 or k >= V:
                return (True, np.int64(k), 0, np.zeros(0, np.int64), np.zeros(0, np.int64),
                        False, np.empty((0, 0, 0), table.dtype), m)
            m[i, t] = k != 0
    if mask_zero:
        mode, counts, order, reordered = classify(m)
    else:
        mode, counts, order, reordered = 0, np.zeros(T, np.int64), np.arange(b), False
    xt = np.empty((T, b, F), table.dtype)
    for t in range(T):
        for s in range(b):
            i = order[s] if reordered else s
            row = table[ids[i, t]]
            dst = xt[t, s]
            for f in range(F):
                dst[f] = row[f]
    return False, np.int64(0), mode, counts, order, reordered, xt, m


SOFTMAX = 8          # dense's code for a softmax over each row (the others: ``apply``'s)


@_jit
def dense(x, P, bias, units, code, cst, fast):
    """A Dense layer: activation ``code`` of ``x P + bias`` for ``x`` (m, K), ``P`` its
    kernel packed (kernels/_simd.py ``pack``), as a new (m, units) array: the product of
    ``project``, the activations of the gates, or (``code`` SOFTMAX) each row's softmax as
    activations.softmax computes it (exp of the row less its maximum, over their sum)."""
    m = x.shape[0]
    Z = np.empty((m, P.shape[0] * P.shape[2]), x.dtype)
    mm(x, m, P, Z)
    out = np.empty((m, units), x.dtype)
    for i in range(m):
        r = Z[i, :units]
        for j in range(units):
            r[j] += bias[j]
        o = out[i]
        if code == SOFTMAX:
            top = r[0]
            for j in range(1, units):
                top = max(top, r[j])
            total = r.dtype.type(0.0)
            for j in range(units):
                o[j] = math.exp(r[j] - top)
                total += o[j]
            for j in range(units):
                o[j] /= total
        else:
            apply(code, r, cst, fast)
            for j in range(units):
                o[j] = r[j]
    return out


@_jit
def embed_seq(ids, table, mask_zero, a, b, two):
    """``embed`` then ``seq`` on what it made: ``seq(*a)`` (and ``seq(*b)`` when ``two``, the
    halves of a Bidirectional layer) with its input, mask, counts and mode in place of
    ``a``'s (and ``b``'s) placeholders for them; one call from Python for the lookup and the
    recurrent loops. Returns (bad, value, mode, order, reordered) as ``embed``: when ``bad``
    nothing has run."""
    bad, value, mode, counts, order, reordered, xt, m = embed(ids, table, mask_zero)
    if not bad:
        mask = m if mode == 1 else a[9]
        seq(*(a[:2] + (xt,) + a[3:9] + (mask, counts) + a[11:17] + (mode,) + a[18:]))
        if two:
            seq(*(b[:2] + (xt,) + b[3:9] + (mask, counts) + b[11:17] + (mode,) + b[18:]))
    return bad, value, mode, order, reordered
