"""The best onnxruntime graph for a recurrent model: one fused ONNX ``LSTM`` / ``GRU`` / ``RNN``
node per layer, built by hand from the Keras weights (no tf2onnx), so that onnxruntime runs its
own fused CPU kernel.

Keras to ONNX: ONNX's ``W`` is the kernel transposed per direction, ``R`` the recurrent kernel
transposed, ``B`` the input bias then the recurrent bias. LSTM gates are Keras ``i f c o`` and
ONNX ``i o f c``; GRU gates are ``z r h`` in both, and Keras's ``reset_after=True`` is ONNX's
``linear_before_reset=1`` (its two bias rows are ONNX's Wb and Rb). onnxruntime's CPU kernels
take time-major inputs only (``layout=0``), so the graph transposes the batch-major input once
(as tf2onnx's graphs do); stacked layers pass time-major sequences on. A masked text model's
mask (Embedding ``mask_zero``, right padding) becomes ``sequence_lens``, computed in the graph.
"""

import numpy as np

OPSET = 17


def _onnx():
    from onnx import TensorProto, helper, numpy_helper
    return TensorProto, helper, numpy_helper


def _gate_blocks(a, n):
    return np.split(a, n, axis=-1)


def onnx_weights(kind, kernel, recurrent, bias, units):
    """(W, R, B) of one direction, ONNX layout: W (G*u, features), R (G*u, u), B (2*G*u,)."""
    if kind == "lstm":
        order = [0, 3, 1, 2]                                # Keras i f c o -> ONNX i o f c

        def reorder(a):
            return np.concatenate([_gate_blocks(a, 4)[k] for k in order], axis=-1)
        kernel, recurrent = reorder(kernel), reorder(recurrent)
        b_in = reorder(bias) if bias is not None else np.zeros(4 * units, np.float32)
        b_rec = np.zeros_like(b_in)
    elif kind == "gru":
        if bias is None:
            b_in = b_rec = np.zeros(3 * units, np.float32)
        elif bias.ndim == 2:                                # reset_after: input, recurrent rows
            b_in, b_rec = bias[0], bias[1]
        else:
            b_in, b_rec = bias, np.zeros_like(bias)
    else:
        b_in = bias if bias is not None else np.zeros(units, np.float32)
        b_rec = np.zeros_like(b_in)
    return (np.ascontiguousarray(kernel.T, np.float32),
            np.ascontiguousarray(recurrent.T, np.float32),
            np.concatenate([b_in, b_rec]).astype(np.float32))


class GraphBuilder:
    """Nodes and initializers of one ONNX graph."""

    def __init__(self):
        self.T, self.helper, self.numpy_helper = _onnx()
        self.nodes, self.inits, self.n = [], [], 0

    def name(self, base):
        self.n += 1
        return f"{base}_{self.n}"

    def const(self, array, base="c"):
        name = self.name(base)
        self.inits.append(self.numpy_helper.from_array(np.asarray(array), name))
        return name

    def node(self, op, inputs, n_out=1, **attrs):
        outs = [self.name(op.lower()) for _ in range(n_out)]
        self.nodes.append(self.helper.make_node(op, inputs, outs, **attrs))
        return outs if n_out > 1 else outs[0]

    def recurrent(self, kind, x, directions, units, seq_lens="", reset_after=True):
        """One fused node over ``x`` (time, batch, features); ``directions`` is a list of
        (kernel, recurrent, bias) in Keras layout, forward first. Returns (Y (time, dirs,
        batch, units), Y_h (dirs, batch, units))."""
        ws = [onnx_weights(kind, k, r, b, units) for k, r, b in directions]
        W, R, B = (self.const(np.stack([w[i] for w in ws]), n) for i, n in
                   enumerate(("W", "R", "B")))
        op = {"lstm": "LSTM", "gru": "GRU", "simple_rnn": "RNN"}[kind]
        attrs = dict(hidden_size=units,
                     direction="bidirectional" if len(directions) == 2 else "forward")
        if kind == "gru":
            attrs["linear_before_reset"] = int(reset_after)
        if kind == "simple_rnn":
            attrs["activations"] = ["Tanh"] * len(directions)
        n_out = 3 if kind == "lstm" else 2
        outs = self.node(op, [x, W, R, B, seq_lens], n_out, **attrs)
        return outs[0], outs[1]

    def model(self, inputs, output):
        T, helper = self.T, self.helper
        graph = helper.make_graph(self.nodes, "model", inputs,
                                  [helper.make_tensor_value_info(output, T.FLOAT, None)],
                                  self.inits)
        m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
        m.ir_version = 8
        return m


def sequence_model(kind, layers, features):
    """``Sequential(<kind>, <kind>, ...)``, the last returning its final output: ``layers``
    is [(units, [(kernel, recurrent, bias)] one direction, reset_after)]. Input "x"."""
    g = GraphBuilder()
    x = g.node("Transpose", ["x"], perm=[1, 0, 2])
    for n, (units, dirs, reset_after) in enumerate(layers):
        y, y_h = g.recurrent(kind, x, dirs, units, reset_after=reset_after)
        if n < len(layers) - 1:                            # (time, 1, batch, u) -> (time, batch, u)
            x = g.node("Squeeze", [y, g.const(np.array([1], np.int64), "axes")])
    out = g.node("Squeeze", [y_h, g.const(np.array([0], np.int64), "axes")])
    inp = g.helper.make_tensor_value_info("x", g.T.FLOAT, [None, None, features])
    return g.model([inp], out)


def text_model(embeddings, directions, units, dense_kernel, dense_bias):
    """Embedding(mask_zero=True) -> Bidirectional(LSTM, concat) -> Dense(sigmoid); tokens
    "x" (batch, time) int64, right-padded with 0 (the mask is their sequence lengths)."""
    g = GraphBuilder()
    emb = g.node("Gather", [g.const(embeddings.astype(np.float32), "E"),
                            g.node("Transpose", ["x"], perm=[1, 0])], axis=0)
    nonzero = g.node("Cast", [g.node("Not", [g.node("Equal", ["x", g.const(np.array(0,
                                                                                np.int64))])])],
                     to=g.T.INT32)
    lens = g.node("ReduceSum", [nonzero, g.const(np.array([1], np.int64), "axes")], keepdims=0)
    _, y_h = g.recurrent("lstm", emb, directions, units, seq_lens=lens)
    h = g.node("Reshape", [g.node("Transpose", [y_h], perm=[1, 0, 2]),
                           g.const(np.array([0, -1], np.int64), "shape")])
    logits = g.node("Add", [g.node("MatMul", [h, g.const(dense_kernel.astype(np.float32))]),
                            g.const(dense_bias.astype(np.float32))])
    out = g.node("Sigmoid", [logits])
    inp = g.helper.make_tensor_value_info("x", g.T.INT64, [None, None])
    return g.model([inp], out)


def session(model, threads="1"):
    import onnxruntime as ort
    so = ort.SessionOptions()
    if threads == "1":
        so.intra_op_num_threads = so.inter_op_num_threads = 1
    return ort.InferenceSession(model.SerializeToString(), so,
                                providers=["CPUExecutionProvider"])
