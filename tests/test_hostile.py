"""Hostile files, round 2: every crafted file of tests/hostile_files.py ends in our typed error
naming its cause (or loads, where the file is valid but once cost exponential time), quickly,
with the same error in both reading modes; nothing is read from outside the file."""

import os
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import kerasrnn_infer as kri
import hostile_files
from conftest import ROOT

MODES = ("fork", "no-fork")
TIME_LIMIT = 3.0            # seconds a case may take (they take 0.01-1.2 s here)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("hostile"))
    return {name: build(d) for name, build in hostile_files.BUILDERS.items()}


def _attempt(case, mode, monkeypatch):
    if mode == "no-fork":
        monkeypatch.setenv("KERASRNN_INFER_NO_FORK", "1")
    else:
        monkeypatch.delenv("KERASRNN_INFER_NO_FORK", raising=False)
    return hostile_files.attempt(case)


@pytest.mark.parametrize("name", sorted(hostile_files.BUILDERS))
def test_hostile_file_is_refused_alike_in_both_modes(name, built, monkeypatch):
    case = built[name]
    seen = []
    for mode in MODES:
        err, seconds = _attempt(case, mode, monkeypatch)
        assert seconds < TIME_LIMIT, f"{name} ({mode}) took {seconds:.1f} s"
        if case.error is None:
            assert err is None, f"{name} ({mode}) should load and run: {err!r}"
            continue
        assert isinstance(err, case.error), f"{name} ({mode}): {type(err).__name__}: {err}"
        assert isinstance(err, kri.KerasRnnInferError)
        assert __import__("re").search(case.match, str(err)), f"{name} ({mode}): {err}"
        seen.append((type(err), str(err)))
    if seen:
        assert seen[0] == seen[1], f"the two modes disagree: {seen}"


@pytest.mark.parametrize("mode", MODES)
def test_no_byte_from_outside_the_file_reaches_the_weights(built, mode, monkeypatch):
    """The secret file beside the model never shows up in any output, whatever the mode."""
    secret = np.frombuffer(hostile_files.SECRET, np.float32)
    for name, case in built.items():
        if "external" not in name and "virtual" not in name and "filter" not in name:
            continue
        if mode == "no-fork":
            monkeypatch.setenv("KERASRNN_INFER_NO_FORK", "1")
        try:
            model = kri.load_model(case.path) if case.json_text is None else \
                kri.model_from_json(case.json_text).load_weights(case.path)
        except kri.ModelFileError:
            continue
        for w in model.get_weights():      # pragma: no cover - reached only on a leak
            assert not np.isin(secret, w).any(), f"{name}: bytes of another file in weights"


def test_tiny_zip_with_a_huge_config_costs_little_memory(built):
    """57 MB of `{}` in a 60 KB archive: refused with both processes under 250 MB (peak RSS;
    VmHWM for this process, as ru_maxrss would count the pytest process it was forked from)."""
    if not os.path.exists("/proc/self/status"):
        pytest.skip("needs Linux /proc")
    code = ("import resource, sys, kerasrnn_infer as kri\n"
            "try:\n    kri.load_model(sys.argv[1])\nexcept kri.ModelFileError as e:\n"
            "    print('refused', e)\n"
            "me = int(open('/proc/self/status').read().split('VmHWM:')[1].split()[0])\n"
            "kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss\n"
            "print('peak', me, kids)\n")
    for env in ({}, {"KERASRNN_INFER_NO_FORK": "1"}):
        r = subprocess.run([sys.executable, "-c", code, built["config_of_empty_objects"].path],
                           capture_output=True, text=True, timeout=60,
                           env={**os.environ, **env}, cwd=ROOT)
        assert "refused" in r.stdout, r.stdout + r.stderr
        me, kids = (int(v) for v in r.stdout.split("peak")[1].split())
        assert me < 250_000 and kids < 250_000, f"peak RSS {me} KB (parent), {kids} KB (reader)"


def _fork_and_run(fn) -> int:
    """Fork; the child runs ``fn`` within 10 s (exit 0) or fails; the child's wait status."""
    pid = os.fork()
    if pid == 0:
        import signal
        signal.alarm(10)
        try:
            fn()
            os._exit(0)
        except BaseException:                      # noqa: BLE001
            os._exit(3)
    return os.waitpid(pid, 0)[1]


def _fork_while_held(lock, fn) -> int:
    """Fork while another thread holds ``lock`` (as a loading or predicting thread holds
    it); the child runs ``fn``; the child's wait status."""
    held, release = threading.Event(), threading.Event()

    def hold():
        with lock:
            held.set()
            release.wait(10)

    t = threading.Thread(target=hold)
    t.start()
    held.wait(10)
    try:
        return _fork_and_run(fn)
    finally:
        release.set()
        t.join()


def test_a_process_forked_while_another_thread_loads_can_load(built):
    """gunicorn, multiprocessing and Celery fork at any time: a child forked while a thread
    of the parent is inside load_model, holding the reader's lock (held here on purpose, as a
    loading thread holds it while it forks its reader), must load too."""
    from kerasrnn_infer.formats import isolate as _isolate
    path = built["nested_sequentials"].path
    status = _fork_while_held(_isolate._FORK_LOCK, lambda: kri.load_model(path))
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, status
    # and with threads really loading while the process forks
    stop = threading.Event()

    def keep_loading():
        while not stop.is_set():
            kri.load_model(path)

    threads = [threading.Thread(target=keep_loading) for _ in range(2)]
    for t in threads:
        t.start()
    try:
        results = []
        for _ in range(8):
            time.sleep(0.003)
            results.append(_fork_and_run(lambda: kri.load_model(path)))
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert all(os.WIFEXITED(s) and os.WEXITSTATUS(s) == 0 for s in results), results


@pytest.mark.parametrize("value", ["nan", "inf", "-1", "0", "1e10", "abc", "-inf"])
def test_a_bad_read_timeout_is_refused_naming_the_variable(value, built, monkeypatch):
    monkeypatch.setenv("KERASRNN_INFER_READ_TIMEOUT", value)
    with pytest.raises(kri.SettingError, match=f"KERASRNN_INFER_READ_TIMEOUT='{value}' is not "
                                               f"a valid read timeout"):
        kri.load_model(built["nested_sequentials"].path)


def test_a_good_read_timeout_is_used(built, monkeypatch):
    monkeypatch.setenv("KERASRNN_INFER_READ_TIMEOUT", " 7.5 ")
    kri.load_model(built["nested_sequentials"].path)
    from kerasrnn_infer.formats import isolate as _isolate
    assert _isolate.read_timeout(10) == (7.5, True)
    monkeypatch.delenv("KERASRNN_INFER_READ_TIMEOUT")
    assert _isolate.read_timeout(20_000_000) == (21.0, False)


def test_the_deadline_message_names_the_setting(tmp_path, monkeypatch):
    """A reader that runs past its deadline is stopped; the message says which setting set
    it and what the likely cause is."""
    from kerasrnn_infer.formats import isolate as _isolate, keras3 as _keras3
    monkeypatch.setenv("KERASRNN_INFER_READ_TIMEOUT", "0.5")
    monkeypatch.setattr(_keras3, "read_tree",
                        lambda *a: time.sleep(30))           # stands in for a libhdf5 loop
    from _build import simple_rnn_model, write_keras_zip
    cfg, tree = simple_rnn_model()
    path = write_keras_zip(tmp_path / "slow.keras", cfg, tree)
    t0 = time.monotonic()
    with pytest.raises(kri.ModelFileError, match=r"slow\.keras: reading did not finish within "
                                                 r"0\.5 s \(KERASRNN_INFER_READ_TIMEOUT='0\.5'\)"):
        kri.load_model(path)
    assert time.monotonic() - t0 < 5
    assert _isolate._FORK_LOCK.owner is None


def test_a_reader_that_crashes_is_reported_with_its_signal(tmp_path, monkeypatch):
    from kerasrnn_infer.formats import keras3 as _keras3
    import signal
    import faulthandler

    def crash(*a):
        faulthandler.disable()          # pytest's handler would print the child's stack
        os.kill(os.getpid(), signal.SIGSEGV)
    monkeypatch.setattr(_keras3, "read_tree", crash)
    from _build import simple_rnn_model, write_keras_zip
    cfg, tree = simple_rnn_model()
    path = write_keras_zip(tmp_path / "crash.keras", cfg, tree)
    with pytest.raises(kri.ModelFileError, match=r"crash\.keras: the reader process stopped "
                                                 r"unexpectedly: it was ended by SIGSEGV"):
        kri.load_model(path)


def test_a_fork_while_another_thread_holds_a_model_lock_leaves_the_child_usable():
    """A stateful model's lock (and every other lock of ours) is renewed in a forked child
    unless the forking thread holds it: the child can predict."""
    from conftest import FIXTURES
    model = kri.load_model(os.path.join(FIXTURES, "stateful__keras3", "model.keras"))
    x = np.ones((2, 3, 3), np.float32)
    status = _fork_while_held(model._lock, lambda: model.predict(x))
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, status
