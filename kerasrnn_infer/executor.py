"""Running a model: one call path for every layer, and the loops over Sequential layers and
Functional plans (values, masks and call arguments flow here; layers keep nothing).

``call_layer`` is where a layer is called (``_call_embedded`` too: an Embedding layer and
the recurrent layer after it, as one call). Our own typed errors pass through; NumPy
running out of memory is the input's size (InputError); anything else escaping a layer is a
bug in this library and says so (InternalError, naming the layer and the inputs' shapes).
"""

from __future__ import annotations

import functools
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from ._util import as_list
from .errors import ConfigError, InputError, InternalError, KerasRnnInferError
from .graph import Ref, leaves, map_refs


def call_layer(layer, inputs, mask, kwargs: Dict[str, Any], ctx) -> Tuple[Any, Any]:
    """Run one layer call; returns (outputs, output masks)."""
    try:
        return layer.run(inputs, mask, kwargs, ctx)
    except KerasRnnInferError:
        raise
    except Exception as e:  # noqa: BLE001 - reported as the input's size or our bug
        raise _failure(layer, inputs, e) from (None if isinstance(e, MemoryError) else e)


def _failure(layer, inputs, e: Exception) -> KerasRnnInferError:
    """What a layer call that raised ``e`` (not one of our errors) reports."""
    shapes = [np.shape(a) for a in as_list(inputs)]
    if isinstance(e, MemoryError):
        return InputError(f"{layer.where}: not enough memory to run on inputs of shapes "
                          f"{shapes}")
    return InternalError(f"{layer.where}: kerasrnn_infer failed on inputs of shapes "
                         f"{shapes}: {type(e).__name__}: {e}. This is a bug in "
                         f"kerasrnn_infer; please report it with the model file")


def run_sequential(layers, feed: Tuple[Any, Any], collect: Optional[Dict[str, Any]], ctx):
    """A Sequential model's layers in turn; ``feed`` is (value, mask). An Embedding layer and
    the recurrent layer after it (``Layer.fused_next``) run as one call where that layer
    can look the rows up itself, unless every layer's output is wanted (``collect``) or
    states pass between calls (``ctx``)."""
    x, m = feed
    skip = False
    for layer in layers:
        if skip:
            skip = False
            continue
        nxt = layer.fused_next
        if nxt is not None and collect is None and ctx is None:
            done = _call_embedded(layer, nxt, x)
            if done is not None:
                x, m = done
                skip = True
                continue
        x, m = call_layer(layer, x, m, {}, ctx)
        if collect is not None and layer.name not in collect:
            collect[layer.name] = x
    return x, m


def _call_embedded(emb, layer, inputs) -> Optional[Tuple[Any, Any]]:
    """``layer`` run on Embedding layer ``emb``'s output for ``inputs``, made inside its
    kernel (``run_embedded``), or None where it cannot be."""
    ids = _guarded(emb, inputs, emb.ids_for_kernel, inputs)
    return None if ids is None else _guarded(layer, inputs, layer.run_embedded, ids, emb)


def _guarded(layer, inputs, fn, *args):
    """``fn(*args)``, what escapes it reported as ``call_layer`` reports it, for ``layer``."""
    try:
        return fn(*args)
    except KerasRnnInferError:
        raise
    except Exception as e:  # noqa: BLE001 - as call_layer
        raise _failure(layer, inputs, e) from (None if isinstance(e, MemoryError) else e)


def direct_plan(layers) -> Optional[Tuple[Tuple[Any, Any], ...]]:
    """A Sequential model's direct path (``Layer.direct``), for the plain ``predict``: per
    layer, or per Embedding layer and the recurrent layer that looks its rows up
    (``Layer.looks_up_rows``; ``_call_embedded``), ``(layer, fn)``; inert layers left out;
    then ``(None, quiet)``: whether no step raises NumPy floating-point warnings. None when
    a layer has no direct form (then every call takes the general path,
    ``run_sequential``)."""
    steps: List[Tuple[Any, Any]] = []
    quiet = True
    skip = False
    for k, layer in enumerate(layers):
        if skip:
            skip = False
            continue
        if layer.inert:
            continue
        nxt = layer.fused_next
        if nxt is not None and layers[k + 1:k + 2] == [nxt] and nxt.looks_up_rows and \
                nxt.direct() is not None:
            steps.append((nxt, nxt.direct_ids(layer, functools.partial(_embedded_step, layer,
                                                                      nxt))))
            skip = True
            continue
        form = layer.direct()
        if form is None:
            return None
        steps.append((layer, form[0]))
        quiet = quiet and form[1]
    return tuple(steps) + ((None, quiet),)


def chain_plan(graph) -> Optional[Tuple[Tuple[Any, Any], ...]]:
    """``direct_plan`` for a Functional graph that is a chain of layers, as Sequential's:
    one input, one output, each call a layer (not an op) on the one output of the call
    before it (the first: the input), with no other argument and the mask ``run_plan``
    passes it (``auto_mask``), the last call the output. None for any other graph."""
    if len(graph.input_keys) != 1 or len(graph.output_keys) != 1:
        return None
    prev, layers = graph.input_keys[0], []
    for node in graph.plan:
        arg = node.inputs[0] if isinstance(node.inputs, list) and len(node.inputs) == 1 \
            else node.inputs
        if arg != prev or set(node.kwargs) - {"training"} or not node.auto_mask or \
                node.layer.is_op or node.layer.mask_args:
            return None
        prev = Ref(node.layer.name, node.call, 0)
        layers.append(node.layer)
    return direct_plan(layers) if layers and prev == graph.output_keys[0] else None


def _embedded_step(emb, layer, x, mask):
    """A direct step: ``layer`` on Embedding layer ``emb``'s output for ``x``, the rows
    looked up by its kernel where it can, else the two layers in turn (as run_sequential;
    quiet: the layer's kernel is compiled)."""
    done = _call_embedded(emb, layer, x)
    if done is None:
        done = call_layer(layer, *call_layer(emb, x, mask, {}, None), {}, None)
    return done


def run_direct(plan, x) -> Any:
    """``plan`` (``direct_plan``) on the array ``x``: the model's output, or None where a
    step does not take what it is given (then the caller runs the general path: nothing
    here keeps state). Errors as ``call_layer`` reports them."""
    if not plan[-1][1]:
        with np.errstate(all="ignore"):
            return _direct_steps(plan, x)
    return _direct_steps(plan, x)


def _direct_steps(plan, x):
    mask = None
    for layer, fn in plan[:-1]:
        try:
            done = fn(x, mask)
        except KerasRnnInferError:
            raise
        except Exception as e:  # noqa: BLE001 - as call_layer
            raise _failure(layer, x, e) from (None if isinstance(e, MemoryError) else e)
        if done is None:
            return None
        x, mask = done
    return x


def _bad_ref(where: str, r: Ref, env) -> str:
    have = sum(1 for k in env if k[:2] == r[:2])
    return (f"{where}: a tensor refers to output {r.tensor} of call {r.node} of layer "
            f"{r.layer!r}, which has {have} output{'s' if have != 1 else ''}")


def run_plan(graph, feeds: List[Tuple[Any, Any]], collect: Optional[Dict[str, Any]],
             ctx) -> List[Tuple[Any, Any]]:
    """A Functional graph's plan on ``feeds`` ((value, mask) per model input): (value, mask)
    per model output. ``collect`` gathers each layer's first output (not op nodes')."""
    env: Dict[Ref, Tuple[Any, Any]] = {}
    for key, feed in zip(graph.input_keys, feeds):
        env[key] = feed
        if collect is not None and key[0] not in collect:
            collect[key[0]] = feed[0]

    def get(r):
        try:
            return env[r]
        except KeyError:
            raise ConfigError(_bad_ref(graph.where, r, env)) from None

    for node in graph.plan:
        vals = map_refs(lambda r: get(r)[0] if isinstance(r, Ref) else r, node.inputs)
        masks = map_refs(lambda r: get(r)[1] if isinstance(r, Ref) else None, node.inputs)
        kwargs = map_refs(lambda r: get(r)[0] if isinstance(r, Ref) else r, node.kwargs)
        kwargs.pop("training", None)
        if "mask" in kwargs:
            mask = kwargs.pop("mask")
        elif node.auto_mask:
            mask = masks if any(m is not None for m in leaves(masks)) else None
        else:
            mask = None
        mask_args = node.layer.mask_args
        if mask_args:      # the layer reads the masks its tensor arguments carry
            kwargs[f"{mask_args[0]}_mask"] = masks if not isinstance(masks, list) else None
            for arg in mask_args[1:]:
                ref = node.kwargs.get(arg)
                if isinstance(ref, Ref):
                    kwargs[f"{arg}_mask"] = get(ref)[1]
        out, out_mask = call_layer(node.layer, vals, mask, kwargs, ctx)
        if node.layer.clears_input_masks:   # Keras 3 MultiHeadAttention (compat.mha_clears_masks)
            for ref in [node.inputs] + [node.kwargs.get(a) for a in mask_args[1:]]:
                if isinstance(ref, Ref) and ref in env:
                    env[ref] = (env[ref][0], None)
        outs = as_list(out)
        oms = as_list(out_mask) if isinstance(out_mask, (list, tuple)) else [out_mask] * len(outs)
        name = node.layer.name
        for j, o in enumerate(outs):
            env[Ref(name, node.call, j)] = (o, oms[j] if j < len(oms) else None)
        if collect is not None and name not in collect and not node.layer.is_op:
            collect[name] = out
    return [get(k) for k in graph.output_keys]
