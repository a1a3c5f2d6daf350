"""Locks that a forked child finds usable.

Applications fork at any time (gunicorn, multiprocessing, Celery), also while another thread
holds one of our locks; a plain ``threading.Lock`` held at that moment stays held forever in
the child, where that thread does not exist. Every ``ForkSafeLock`` is renewed in the child
(one ``os.register_at_fork`` hook for all of them), unless the forking thread itself holds it:
that thread goes on in the child and releases it there.
"""

from __future__ import annotations

import os
import threading
import weakref

_ALL: "weakref.WeakSet[ForkSafeLock]" = weakref.WeakSet()


class ForkSafeLock:
    __slots__ = ("_lock", "_owner", "__weakref__")

    def __init__(self):
        self._lock = threading.Lock()
        self._owner = None
        _ALL.add(self)

    def _after_fork(self):
        if self._owner != threading.get_ident():
            self._lock = threading.Lock()
            self._owner = None

    def __enter__(self):
        self._lock.acquire()
        self._owner = threading.get_ident()
        return self

    def __exit__(self, *exc):
        self._owner = None
        self._lock.release()

    @property
    def owner(self):
        """The thread ident holding the lock, or None."""
        return self._owner

    def __getstate__(self):          # a pickled object gets a fresh lock on the other side
        return None

    def __setstate__(self, state):
        self.__init__()


def _renew_all():
    for lock in list(_ALL):
        lock._after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_renew_all)
