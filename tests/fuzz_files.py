"""Mutation fuzzing of real model files: every attempt must load and run, or raise
kerasrnn_infer's own error, quickly. Run by tests/test_robustness.py in a subprocess (so a
crash or a hang is caught); run longer by hand:

    python tests/fuzz_files.py --cases 50000 --seed 1 [--paired]

``--paired`` reads each file in both modes (forked reader, then in-process) and requires the
same outcome from both. ``--formats tf`` fuzzes the TensorFlow formats instead (copies of
fixtures/tf/ SavedModel directories and checkpoints): raw byte mutations of every member, and
structural ones that keep the checksums valid so that the parsers behind them are reached
(index entries, the object graph tensor, the Keras metadata JSON).

Prints one line per failure and a final "N passed, M failed" line; exits 1 on any failure.
"""

import argparse
import io
import json
import os
import sys
import time
import zipfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
import kerasrnn_infer as kri  # noqa: E402

SEEDS = ["rnn_basic__keras3/model.keras", "rnn_basic__tf_keras/model.h5",
         "bidirectional_masked__keras3/model.keras", "mask_masking__tf_keras/model.h5",
         "graph_nested__keras3/model.h5", "stateful__tf_keras/model.h5",
         "graph_nested_sequential__tf_keras/model.json"]
# TensorFlow formats: (kind, path under fixtures/, model JSON for checkpoints)
TF_SEEDS = [("sm", "tf/graph_nested__tf2.21/saved_model", None),
            ("ckpt", "tf/graph_nested__tf2.21/ckpt/weights", "tf/graph_nested__tf2.21/model.json"),
            ("sm", "tf/mask_masking__tf2.12/saved_model", None),
            ("sm", "tf/graph_nested__tf2.21/saved_model_legacy_metadata", None),
            ("ckpt", "tf/stateful__tf2.15/ckpt/weights", "tf/stateful__tf2.15/model.json"),
            ("dir", "tf/fit_checkpoint__tf2.12/checkpoints",
             "tf/fit_checkpoint__tf2.12/model.json"),
            ("sm", "tf/tf_ops__tf2.15/saved_model", None)]
READ_TIMEOUT = 2.0           # the library's reader deadline while fuzzing
TIME_LIMIT = READ_TIMEOUT + 3.0
os.environ["KERASRNN_INFER_READ_TIMEOUT"] = str(READ_TIMEOUT)


def byte_mutations(data: bytes, rng):
    b = bytearray(data)
    kind = rng.integers(5)
    if kind == 0:                                   # truncate
        return bytes(b[: rng.integers(0, len(b))]), "truncate"
    if kind == 1:                                   # flip bytes
        for _ in range(rng.integers(1, 20)):
            b[rng.integers(len(b))] ^= 1 << rng.integers(8)
        return bytes(b), "flip"
    if kind == 2:                                   # zero a block
        a = rng.integers(len(b))
        b[a:a + rng.integers(1, 4096)] = bytes(min(len(b) - a, 4096))
        return bytes(b[:len(data)]), "zero-block"
    if kind == 3:                                   # random bytes with the same magic
        return bytes(b[:8]) + rng.bytes(rng.integers(0, 20000)), "random"
    a = rng.integers(len(b))                        # duplicate a slice somewhere
    n = rng.integers(1, 2048)
    return bytes(b[:a] + b[a:a + n] + b[a:]), "splice"


def _mutate_json(obj, rng, depth=0):
    if isinstance(obj, dict) and obj:
        key = list(obj)[rng.integers(len(obj))]
        choice = rng.integers(6)
        if choice == 0:
            del obj[key]
        elif choice == 1:
            obj[key] = [None, -1, 10 ** 12, "x", {}, []][rng.integers(6)]
        else:
            _mutate_json(obj[key], rng, depth + 1)
    elif isinstance(obj, list) and obj:
        i = rng.integers(len(obj))
        choice = rng.integers(4)
        if choice == 0:
            del obj[i]
        elif choice == 1:
            obj[i] = [None, -1, 10 ** 12, "x", {}, [0, 0, 0]][rng.integers(6)]
        else:
            _mutate_json(obj[i], rng, depth + 1)


def structural_zip(data: bytes, rng):
    zin = zipfile.ZipFile(io.BytesIO(data))
    members = {n: zin.read(n) for n in zin.namelist()}
    kind = rng.integers(4)
    if kind == 0:
        members.pop(list(members)[rng.integers(len(members))])
    elif kind == 1:
        cfg = json.loads(members["config.json"])
        for _ in range(rng.integers(1, 4)):
            _mutate_json(cfg, rng)
        members["config.json"] = json.dumps(cfg)
    elif kind == 2:
        members["model.weights.h5"], _ = byte_mutations(members["model.weights.h5"], rng)
    else:
        members["config.json"] = members["config.json"][: rng.integers(len(members["config.json"]))]
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for n, d in members.items():
            z.writestr(n, d)
    return out.getvalue(), f"zip-{kind}"


def structural_h5(path_in, path_out, rng):
    import h5py
    import shutil
    shutil.copy(path_in, path_out)
    with h5py.File(path_out, "r+") as f:
        kind = rng.integers(4)
        if kind == 0 and "model_config" in f.attrs:
            cfg = json.loads(f.attrs["model_config"])
            for _ in range(rng.integers(1, 4)):
                _mutate_json(cfg, rng)
            f.attrs["model_config"] = json.dumps(cfg)
            return "h5-config"
        datasets = []
        f.visititems(lambda n, o: datasets.append(n) if isinstance(o, h5py.Dataset) else None)
        if not datasets:
            return "h5-none"
        name = datasets[rng.integers(len(datasets))]
        if kind == 1:
            del f[name]
            return "h5-delete"
        if kind == 2:
            data = f[name][()]
            del f[name]
            f.create_dataset(name, data=np.zeros(tuple(d + 1 for d in data.shape), data.dtype))
            return "h5-reshape"
        group = f[name].parent
        del f[name]
        group[name.split("/")[-1]] = h5py.ExternalLink("elsewhere.h5", "/x")
        return "h5-link"


# ----- TensorFlow formats -------------------------------------------------------------------------
def _bundle_files(root, kind):
    """(index path, data path) of the bundle in a copied seed."""
    if kind == "sm":
        base = os.path.join(root, "variables", "variables")
    elif kind == "dir":
        import re as _re
        text = open(os.path.join(root, "checkpoint")).read()
        base = os.path.join(root, _re.search(r'model_checkpoint_path: "([^"]+)"', text).group(1))
    else:
        base = root
    return base + ".index", base + ".data-00000-of-00001"


def _string_tensor(data: bytes) -> bytes:
    """A one-string DT_STRING tensor as TensorBundle stores it."""
    from kerasrnn_infer.formats import crc32c
    from _tfbuild import varint
    lens = len(data).to_bytes(4, "little")
    return varint(len(data)) + crc32c.mask(crc32c.value(lens)).to_bytes(4, "little") + data


def _replace_object_graph(index, datafile, rng):
    """Mutate the object graph protobuf, store it with valid checksums."""
    from kerasrnn_infer.formats import crc32c
    from kerasrnn_infer.formats.safe_io import Directory
    from kerasrnn_infer.formats.tensor_bundle import TensorBundle
    from _tfbuild import bundle_entry, rewrite_index
    folder, prefix = os.path.split(index[:-len(".index")])
    with Directory.open(folder) as d:
        graph = TensorBundle(d, prefix).strings("_CHECKPOINTABLE_OBJECT_GRAPH")[0]
    mutated, how = byte_mutations(graph, rng)
    body = _string_tensor(mutated)
    lens = len(mutated).to_bytes(4, "little")
    crc = crc32c.mask(crc32c.value(body[-(len(mutated) + 4):], crc32c.value(lens)))
    offset = os.path.getsize(datafile)
    with open(datafile, "ab") as f:
        f.write(body)

    def change(entries):
        entries[b"_CHECKPOINTABLE_OBJECT_GRAPH"] = bundle_entry(7, (), len(body), offset, 0, crc)
    rewrite_index(index, change)
    return "object-graph-" + how


def _mutate_index_entries(index, rng):
    from _tfbuild import index_entries, rewrite_index
    keys = sorted(index_entries(index))
    key = keys[rng.integers(len(keys))]
    kind = rng.integers(3)

    def change(entries):
        if kind == 0:
            entries.pop(key)
        elif kind == 1:
            entries[key], _ = byte_mutations(entries[key] or b"\x00", rng)
        else:
            entries[key + b"x"] = entries[key]
    rewrite_index(index, change)
    return f"index-entry-{kind}"


def _mutate_keras_metadata(path, rng):
    """Mutate the root node's JSON inside keras_metadata.pb, re-encoded as a valid message."""
    from kerasrnn_infer.formats.protobuf import parse
    from kerasrnn_infer.formats.saved_model import SAVED_METADATA
    from _tfbuild import f_bytes, f_varint
    data = open(path, "rb").read()
    msg = parse(data, SAVED_METADATA, path)
    out = b""
    for n in msg["nodes"]:
        s_, e_ = n.get("metadata", (0, 0))
        meta = data[s_:e_]
        if n.get("node_path") == "root":
            cfg = json.loads(meta)
            for _ in range(rng.integers(1, 4)):
                _mutate_json(cfg, rng)
            meta = json.dumps(cfg).encode()
        node = (f_varint(2, n["node_id"]) if n.get("node_id") else b"") + \
            f_bytes(3, n.get("node_path", "").encode()) + \
            f_bytes(4, n.get("identifier", "").encode()) + f_bytes(5, meta)
        out += f_bytes(1, node)
    open(path, "wb").write(out)
    return "keras-metadata-json"


def tf_mutation(kind, root, rng):
    """Mutate the copied seed ``root`` in place; a description of what was done."""
    index, datafile = _bundle_files(root, kind)
    r = rng.integers(5)
    if r == 0:
        members = [index, datafile]
        if kind == "sm":
            members += [os.path.join(root, n) for n in ("saved_model.pb", "keras_metadata.pb")
                        if os.path.exists(os.path.join(root, n))]
        if kind == "dir":
            members.append(os.path.join(root, "checkpoint"))
        target = members[rng.integers(len(members))]
        data = open(target, "rb").read()
        mutated, how = byte_mutations(data, rng) if data else (b"x", "fill")
        open(target, "wb").write(mutated)
        return f"bytes-{os.path.basename(target)}-{how}"
    if r == 1:
        return _mutate_index_entries(index, rng)
    if r == 2 or kind != "sm" or not os.path.exists(os.path.join(root, "keras_metadata.pb")):
        return _replace_object_graph(index, datafile, rng)
    if r == 3:
        return _mutate_keras_metadata(os.path.join(root, "keras_metadata.pb"), rng)
    return _mutate_index_entries(index, rng)


def tf_case(args, tmp, k, rng):
    """(path to load, json text, description) of fuzz case ``k`` for the TF formats."""
    import shutil
    kind, seed, json_rel = TF_SEEDS[k % len(TF_SEEDS)]
    src = os.path.join(args.fixtures, seed)
    dst = os.path.join(tmp, f"tfcase{k % 7}")
    shutil.rmtree(dst, ignore_errors=True)
    if kind == "ckpt":
        os.makedirs(dst)
        for suffix in (".index", ".data-00000-of-00001"):
            shutil.copy(src + suffix, os.path.join(dst, "weights" + suffix))
        root = os.path.join(dst, "weights")
    else:
        shutil.copytree(src, dst)
        root = dst
    how = tf_mutation(kind, root, rng)
    json_text = open(os.path.join(args.fixtures, json_rel)).read() if json_rel else None
    return root, json_text, f"{seed} {how}"


def attempt(path, json_text=None):
    """(outcome, seconds, detail): "ran" with the outputs, or "refused" with the error's type
    and message. Any other exception propagates: it is a finding."""
    t0 = time.perf_counter()
    try:
        if json_text is not None:
            model = kri.model_from_json(json_text)
            model.load_weights(path)
        else:
            model = kri.load_model(path)
        feeds = []
        for spec in model.inputs:
            shape = tuple(2 if d is None else min(d, 16) for d in (spec.shape or (2, 3, 4)))
            feeds.append(np.ones(shape, spec.dtype))
        out = model.predict(feeds if len(feeds) > 1 else feeds[0])
        result, detail = "ran", out if isinstance(out, list) else [out]
    except kri.KerasRnnInferError as e:
        result, detail = "refused", (type(e).__name__, str(e))
    return result, time.perf_counter() - t0, detail


# What only the forked reader can survive or bound: libhdf5 looping or crashing on damaged
# metadata (an in-process read hangs or kills the caller; the README says so), and memory
# (the reader's address space is limited, so libhdf5 fails sooner there, with another message).
NEEDS_ISOLATION = ("reading did not finish within", "the reader process stopped unexpectedly",
                   "memory allocation failed", "needs more memory than")


def paired(path, json_text=None):
    """The file read by the forked reader, then in-process: both must end alike (the same
    outputs bit for bit, or the same error type and message), except where the forked run
    shows that only isolation survives the file."""
    os.environ.pop("KERASRNN_INFER_NO_FORK", None)
    forked = attempt(path, json_text)
    if forked[0] == "refused" and any(s in forked[2][1] for s in NEEDS_ISOLATION):
        return forked[0], forked[1], "isolation"
    os.environ["KERASRNN_INFER_NO_FORK"] = "1"
    try:
        inproc = attempt(path, json_text)
    finally:
        os.environ.pop("KERASRNN_INFER_NO_FORK", None)
    if forked[0] != inproc[0]:
        raise AssertionError(f"forked: {forked[0]} {str(forked[2])[:200]}; in-process: "
                             f"{inproc[0]} {str(inproc[2])[:200]}")
    if forked[0] == "refused" and forked[2] != inproc[2]:
        raise AssertionError(f"the modes disagree: forked {forked[2]}, in-process {inproc[2]}")
    if forked[0] == "ran" and not all(np.array_equal(a, b, equal_nan=True)
                                      for a, b in zip(forked[2], inproc[2])):
        raise AssertionError("the modes give different outputs")
    return forked[0], max(forked[1], inproc[1]), "both"


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--fixtures", default=os.path.join(os.path.dirname(HERE), "fixtures"))
    ap.add_argument("--tmp", default=None)
    ap.add_argument("--formats", choices=("files", "tf"), default="files",
                    help="files: .keras/.h5 seeds (default); tf: SavedModels and checkpoints")
    ap.add_argument("--paired", action="store_true",
                    help="read every file with the forked reader and in-process "
                         "(KERASRNN_INFER_NO_FORK=1) and require the same outcome")
    args = ap.parse_args(argv)
    import tempfile
    tmp = args.tmp or tempfile.mkdtemp(prefix="kri-fuzz-")
    rng = np.random.default_rng(args.seed)
    passed = failed = 0
    counts = {}
    worst = 0.0
    for k in range(args.cases):
        how = "?"
        if args.formats == "tf":
            seed_file = TF_SEEDS[k % len(TF_SEEDS)][1]
            try:
                out, json_text, how = tf_case(args, tmp, k, rng)
            except Exception as e:  # noqa: BLE001 - a bug of the mutator, not a finding
                print(f"SKIP case {k}: mutator failed: {type(e).__name__}: {e}")
                continue
            data = b""
        else:
            seed_file = SEEDS[k % len(SEEDS)]
            src = os.path.join(args.fixtures, seed_file)
            json_text = None
            if seed_file.endswith(".json"):
                json_text = open(src).read()
                src = os.path.join(os.path.dirname(src), "model_weights.h5")
            out = os.path.join(tmp, f"case{k % 7}" + os.path.splitext(src)[1])
            data = open(src, "rb").read()
        try:
            r = rng.integers(3)
            if args.formats == "tf":
                pass
            elif r == 0:
                mutated, how = byte_mutations(data, rng)
                open(out, "wb").write(mutated)
            elif src.endswith(".keras"):
                mutated, how = structural_zip(data, rng)
                open(out, "wb").write(mutated)
            else:
                how = structural_h5(src, out, rng)
            if os.environ.get("KRI_FUZZ_TRACE"):
                print(f"case {k} {seed_file} {how}", flush=True)
            if args.paired:
                result, dt, modes = paired(out, json_text)
                counts[modes] = counts.get(modes, 0) + 1
            else:
                result, dt, _ = attempt(out, json_text)
            worst = max(worst, dt)
            if dt > TIME_LIMIT:
                raise TimeoutError(f"took {dt:.1f}s")
            counts[result] = counts.get(result, 0) + 1
            passed += 1
        except Exception as e:  # noqa: BLE001 - any foreign exception is the finding
            failed += 1
            print(f"FAIL case {k} ({seed_file}, {how}): "
                  f"{type(e).__name__}: {str(e)[:300]}", flush=True)
    print(f"outcomes: {counts}; slowest attempt {worst:.2f}s")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
