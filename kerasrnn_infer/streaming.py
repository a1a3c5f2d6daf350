"""Recurrent state across calls, and which models can be streamed.

A context is handed down one run of the graph. Each recurrent layer call asks it for its
initial states (``initial``) and reports where it ended (``save``); layers keep nothing.
``StatefulStore`` is the context of ``predict`` for ``stateful=True`` layers; ``StreamContext``
that of ``Model.step``, whose states the caller owns (``StreamState``).

A model streams (``check_streamable``) when every layer works timestep by timestep: each layer
says so itself (``Layer.stream_block``), so a new layer is refused until it declares it.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Tuple, Union

import numpy as np

from .errors import InputError, UnsupportedError


class StatefulStore:
    """The states of a model's ``stateful=True`` layers between ``predict`` calls.

    Keras semantics (``layers/rnn/rnn.py``): a stateful layer starts each call from the states
    its previous call ended with, per sample index. A given ``initial_state`` wins in Keras 3;
    tf-keras and Keras 2 use it only while the stored states are all zero (fresh or reset,
    ``base_rnn._process_inputs``). Stateless layers are untouched.
    """

    def __init__(self):
        self.states: Dict[int, List[np.ndarray]] = {}

    def clear(self):
        self.states.clear()

    def initial(self, layer, batch, given):
        if not layer.stateful:
            return given, None
        stored = self.states.get(id(layer))
        if stored is not None and stored[0].shape[0] != batch:
            raise InputError(f"{layer.where}: stateful layer holds states for batch size "
                             f"{stored[0].shape[0]}, received a batch of {batch}; call "
                             f"reset_states() to start over with another batch size")
        always = layer.ctx.compat.stateful_initial_state == "always"
        if given is not None and (always or stored is None or
                                  not any(np.any(s) for s in stored)):
            return given, None
        return (stored if stored is not None else given), None

    def save(self, layer, states, last):
        if layer.stateful:
            self.states[id(layer)] = [s.copy() for s in states]


class StreamState:
    """The caller-owned state of a stream (``Model.step``): immutable; each step returns a
    new one, so one model serves any number of concurrent streams."""

    __slots__ = ("_model", "_layers", "batch")

    def __init__(self, model_id: int, layers: Dict[Tuple[int, int], List[np.ndarray]], batch):
        self._model = model_id
        self._layers = layers
        self.batch = batch

    def __repr__(self):
        return f"<StreamState: {len(self._layers)} recurrent layer calls, batch {self.batch}>"


class StreamContext:
    """One ``step`` call: reads the previous StreamState, collects the next one."""

    def __init__(self, model_id: int, prev: Optional[StreamState], batch: int):
        if prev is not None:
            if not isinstance(prev, StreamState) or prev._model != model_id:
                raise InputError("step: state must be None or the state returned by a previous "
                                 "step of the same model")
            if prev.batch != batch:
                raise InputError(f"step: the stream has batch size {prev.batch}, this chunk has "
                                 f"{batch}")
        self.prev = prev._layers if prev is not None else {}
        self.next: Dict[Tuple[int, int], List[np.ndarray]] = {}
        self.calls: Dict[int, int] = {}
        self.model_id = model_id
        self.batch = batch

    def _key(self, layer):
        n = self.calls.get(id(layer), 0)
        return id(layer), n

    def initial(self, layer, batch, given):
        if layer.go_backwards:
            raise UnsupportedError(f"{layer.where}: go_backwards needs the whole sequence, so "
                                   f"the model cannot be streamed with step(); use predict")
        saved = self.prev.get(self._key(layer))
        if saved is None:
            return given, None
        return saved[:-1], saved[-1]

    def save(self, layer, states, last):
        key = self._key(layer)
        self.calls[id(layer)] = key[1] + 1
        self.next[key] = [s.copy() for s in states] + [last.copy()]

    def state(self) -> StreamState:
        return StreamState(self.model_id, self.next, self.batch)


def check_streamable(root) -> Union[bool, UnsupportedError]:
    """True, or the error naming the first layer that needs the whole sequence."""
    stack = [root]
    while stack:
        c = stack.pop()
        layers = [n.layer for n in c.plan] if hasattr(c, "plan") else list(c.layers)
        for layer in layers:
            if layer.is_model:
                stack.append(layer)
                continue
            why = layer.stream_block()
            if why:
                return UnsupportedError(f"{layer.where} cannot be streamed with step(): {why}. "
                                        f"Use predict on the whole sequence")
    return True
