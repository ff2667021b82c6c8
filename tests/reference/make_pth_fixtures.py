"""Fixtures for the .pth reader (tests/io/test_pth.cpp) and seeds for its fuzzers (tests/fuzz/).

Run with /usr/bin/python3 (Debian's torch 1.13, torchvision 0.14). Writes
tests/reference/fixtures/pth/:
  <case>.pth, <case>_legacy.pth   torch.save in the zip and the legacy format
  <case>.expected.safetensors     the flattened tensors torch.load gives, by dotted name, with the
                                  dtype packd should report in the metadata ("dtype.<name>");
                                  bfloat16 values are stored as float32 (exact), the integer and
                                  bool storages as int64 (packd widens them)
  bad_*.pth                       broken or hostile files; each test names the error it expects
and tests/fuzz/corpus/<target>/ (small valid seeds). Hostile pickles are built as bytes and never
unpickled. The legacy files differ from run to run (their storage keys are memory addresses).
"""
import collections
import io
import os
import pickle
import pickletools
import shutil
import struct
import zipfile

import numpy as np
import torch
import torchvision

import safetensors_io

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "fixtures", "pth")
CORPUS = os.path.join(HERE, "..", "fuzz", "corpus")


def path(name):
    return os.path.join(OUT, name)


def save_both(name, obj, **kw):
    torch.save(obj, path(f"{name}.pth"), **kw)
    torch.save(obj, path(f"{name}_legacy.pth"), _use_new_zipfile_serialization=False, **kw)


def flatten(obj, prefix=""):
    """What packd's flatten_state_dict gives: dicts followed, tensors kept, the rest skipped."""
    out = {}
    if isinstance(obj, torch.Tensor):
        out[prefix] = obj
    elif isinstance(obj, dict):
        for k, v in obj.items():
            out.update(flatten(v, f"{prefix}.{k}" if prefix else str(k)))
    return out


PACKD_DTYPE = {torch.float32: "float32", torch.float64: "float64", torch.float16: "float16",
               torch.bfloat16: "bfloat16", torch.int64: "int64", torch.int32: "int64",
               torch.int16: "int64", torch.int8: "int64", torch.uint8: "int64", torch.bool: "int64"}


def save_expected(name, obj):
    """The values torch.load gives back (checked to equal what was saved), flattened."""
    loaded = torch.load(path(f"{name}.pth"))
    loaded_legacy = torch.load(path(f"{name}_legacy.pth"))
    flat, flat_legacy = flatten(loaded), flatten(loaded_legacy)
    assert flat.keys() == flatten(obj).keys() == flat_legacy.keys()
    tensors, meta = {}, {}
    for k, t in flat.items():
        assert torch.equal(t, flatten(obj)[k]) and torch.equal(t, flat_legacy[k]), k
        meta[f"dtype.{k}"] = PACKD_DTYPE[t.dtype]
        if t.dtype == torch.bfloat16:
            t = t.float()
        elif t.dtype in (torch.int32, torch.int16, torch.int8, torch.uint8, torch.bool):
            t = t.long()
        tensors[k] = t.detach().contiguous().numpy()
    safetensors_io.save(path(f"{name}.expected.safetensors"), tensors,
                        dict(meta, generator="tests/reference/make_pth_fixtures.py", torch=torch.__version__))


def basic_dict(g):
    big = torch.randn(4, 6, generator=g)
    d = collections.OrderedDict()
    d["f32"] = torch.randn(3, 4, generator=g)
    d["f64"] = torch.randn(5, generator=g, dtype=torch.float64)
    d["f16"] = torch.randn(2, 3, generator=g).half()
    d["bf16"] = torch.randn(4, generator=g).bfloat16()
    d["i64"] = torch.arange(-3, 3).reshape(2, 3) * (2 ** 40)
    d["scalar"] = torch.tensor(7)  # 0-dim int64, like num_batches_tracked
    d["big"] = big
    d["view"] = big[1:, ::2]  # shares big's storage: offset 6, stride (6, 2)
    d["transposed"] = torch.randn(3, 5, generator=g).t()  # stride (1, 5)
    d["expanded"] = torch.randn(3, 1, generator=g).expand(3, 4)  # stride (1, 0)
    d["empty"] = torch.zeros(0, 3)
    d["tied"] = d["f32"]  # the same tensor object twice: the pickle memoises it
    d["i32"] = torch.tensor([-2 ** 31, 5, 2 ** 31 - 1], dtype=torch.int32)
    d["i16"] = torch.tensor([-32768, 7, 32767], dtype=torch.int16)
    d["i8"] = torch.tensor([-128, 0, 127], dtype=torch.int8)
    d["u8"] = torch.tensor([0, 200, 255], dtype=torch.uint8)
    d["bool"] = torch.tensor([True, False, True])
    d["param"] = torch.nn.Parameter(torch.randn(2, generator=g))  # torch._utils._rebuild_parameter
    return d


def nested_dict(g):
    decoder = torch.nn.Sequential(torch.nn.Conv2d(2, 2, 1), torch.nn.BatchNorm2d(2)).state_dict()
    return {
        "bn": collections.OrderedDict(w=torch.randn(2, 2, generator=g), num=torch.tensor(3)),
        "decoder": decoder,  # a real state_dict: OrderedDict + BUILD of its _metadata
        "epoch": 3,
        "lr": 0.01,  # BINFLOAT
        "big_int": 2 ** 40,  # LONG1
        "neg": -5,  # BININT
        "name": "rd",
        "history": [1, 2.5, None, True, False],  # EMPTY_LIST, APPENDS, NONE
        "cfg": (1, "x"),
        "opt": {"state": {0: {"momentum_buffer": torch.randn(2, generator=g)}},  # int keys
                "param_groups": [{"lr": 0.1, "params": [0]}]},
    }


def block_state_dict():
    """A small randomly initialised torchvision module: a conv+bn stem and a ResNet BasicBlock."""
    torch.manual_seed(0)
    m = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1, bias=False), torch.nn.BatchNorm2d(8),
                            torch.nn.ReLU(), torchvision.models.resnet.BasicBlock(8, 8))
    for mod in m.modules():
        if isinstance(mod, torch.nn.BatchNorm2d):
            mod.weight.data.uniform_(0.5, 1.5)
            mod.bias.data.normal_()
            mod.running_mean.normal_()
            mod.running_var.uniform_(0.5, 2.0)
            mod.num_batches_tracked.fill_(5)
    return m.state_dict()


# ---- hand-built files -----------------------------------------------------------------------

class StorageStub:
    """A storage named by a persistent id; the hand pickler writes its id instead of the object."""

    def __init__(self, cls, key, numel, view_metadata=None):
        self.cls, self.key, self.numel, self.view_metadata = cls, key, numel, view_metadata


class TensorStub:
    def __init__(self, storage, offset, size, stride):
        self.args = (storage, offset, tuple(size), tuple(stride), False, collections.OrderedDict())

    def __reduce__(self):
        return (torch._utils._rebuild_tensor_v2, self.args)


def hand_pickle(obj, legacy):
    buf = io.BytesIO()
    p = pickle.Pickler(buf, protocol=2)

    def persistent_id(o):
        if not isinstance(o, StorageStub):
            return None
        pid = ("storage", o.cls, o.key, "cpu", o.numel)
        return pid + (o.view_metadata,) if legacy else pid

    p.persistent_id = persistent_id
    p.dump(obj)
    return buf.getvalue()


def write_zip(name, records, compress=()):
    """A zip as Python's zipfile writes it (no 64-byte padding, no data descriptors, no zip64)."""
    with zipfile.ZipFile(path(name), "w") as z:
        for entry, data in records:
            method = zipfile.ZIP_DEFLATED if entry in compress else zipfile.ZIP_STORED
            z.writestr(zipfile.ZipInfo(entry, date_time=(1980, 1, 1, 0, 0, 0)), data, compress_type=method)


def zip_records(name):
    with zipfile.ZipFile(path(name)) as z:
        return [(i.filename, z.read(i.filename)) for i in z.infolist()]


def legacy_bytes(obj_pickle, storages, sys_info=None, header_numel=None):
    """The legacy layout around an object pickle: storages = [(key, numel, raw bytes)]."""
    sys_info = sys_info or {"protocol_version": 1001, "little_endian": True,
                            "type_sizes": {"short": 2, "int": 4, "long": 4}}
    out = pickle.dumps(0x1950a86a20f9469cfc6c, protocol=2) + pickle.dumps(1001, protocol=2)
    out += pickle.dumps(sys_info, protocol=2) + obj_pickle
    out += pickle.dumps([k for k, _, _ in storages], protocol=2)
    for key, numel, raw in storages:
        out += struct.pack("<q", header_numel.get(key, numel) if header_numel else numel) + raw
    return out


def write(name, data):
    with open(path(name), "wb") as f:
        f.write(data)


def hostile_reduce_pickle():
    """A protocol 2 pickle calling os.system('echo pwned'), as bytes (never loaded)."""

    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    data = pickle.dumps({"w": Evil()}, protocol=2)
    assert b"system" in data
    return data


def bad_files():
    f32 = np.arange(4, dtype=np.float32).tobytes()
    # Hostile pickles, in both containers.
    evil = hostile_reduce_pickle()
    write_zip("bad_os_system.pth", [("archive/data.pkl", evil), ("archive/version", b"3\n")])
    write("bad_os_system_legacy.pth", legacy_bytes(evil, []))
    torch.save(torch.nn.Linear(2, 2), path("bad_full_model.pth"))  # needs torch.nn.modules.linear.Linear
    # Zip damage, starting from a valid file rewritten by Python's zipfile.
    recs = zip_records("tiny.pth")
    data = {n: d for n, d in recs}
    prefix = recs[0][0].rsplit("/", 1)[0]
    write_zip("bad_short_entry.pth", [(n, d[:-4] if n == f"{prefix}/data/0" else d) for n, d in recs])
    write_zip("bad_missing_entry.pth", [(n, d) for n, d in recs if n != f"{prefix}/data/1"])
    write_zip("bad_deflated.pth", recs, compress={f"{prefix}/data/0"})
    write_zip("bad_big_endian.pth", recs[:1] + [(f"{prefix}/byteorder", b"big")] + recs[1:])
    write_zip("bad_no_data_pkl.pth", [(n, d) for n, d in recs if not n.endswith("data.pkl")])
    assert data[f"{prefix}/version"] == b"3\n"
    # Hand-built pickles in a zip.
    def zip_with(name, obj):
        write_zip(name, [("archive/data.pkl", hand_pickle(obj, legacy=False)), ("archive/data/0", f32),
                         ("archive/version", b"3\n")])
    s = StorageStub(torch.FloatStorage, "0", 4)
    zip_with("bad_view_too_big.pth", {"w": TensorStub(s, 2, (3,), (1,))})  # needs elements 2..4 of 4
    zip_with("bad_view_stride.pth", {"w": TensorStub(s, 0, (2, 2), (3, 1))})  # reaches element 4
    zip_with("bad_complex_storage.pth", {"w": TensorStub(StorageStub(torch.ComplexFloatStorage, "0", 2), 0, (2,), (1,))})
    cycle = []
    cycle.append(cycle)
    zip_with("bad_cycle.pth", {"w": TensorStub(s, 0, (4,), (1,)), "loop": cycle})
    zip_with("ok_hand_zip.pth", {"w": TensorStub(s, 1, (3,), (1,))})  # the hand-built control case
    # Hand-built legacy files.
    def legacy_with(name, obj, storages, **kw):
        write(name, legacy_bytes(hand_pickle(obj, legacy=True), storages, **kw))
    ls = StorageStub(torch.FloatStorage, "94000", 4)
    legacy_with("ok_hand_legacy.pth", {"w": TensorStub(ls, 0, (2, 2), (2, 1))}, [("94000", 4, f32)])
    legacy_with("bad_legacy_numel.pth", {"w": TensorStub(ls, 0, (4,), (1,))}, [("94000", 4, f32)],
                header_numel={"94000": 5})
    legacy_with("bad_legacy_view_metadata.pth",
                {"w": TensorStub(StorageStub(torch.FloatStorage, "94000", 4, ("94001", 0, 2)), 0, (2,), (1,))},
                [("94000", 4, f32)])
    legacy_with("bad_legacy_missing_key.pth", {"w": TensorStub(ls, 0, (4,), (1,))}, [])
    legacy_with("bad_legacy_big_endian.pth", {"w": TensorStub(ls, 0, (4,), (1,))}, [("94000", 4, f32)],
                sys_info={"protocol_version": 1001, "little_endian": False, "type_sizes": {}})
    write("bad_legacy_trailing.pth", open(path("ok_hand_legacy.pth"), "rb").read() + b"\0" * 5)


def skip_pickles(data, count):
    """Byte offset after `count` consecutive pickles (pickletools only parses; nothing runs)."""
    f = io.BytesIO(data)
    for _ in range(count):
        for _ in pickletools.genops(f):
            pass
    return f.tell()


def corpus():
    seeds = {
        "fuzz_pth_zip": ["tiny.pth", "tiny_p4.pth", "nested.pth", "ok_hand_zip.pth", "bad_big_endian.pth"],
        "fuzz_pth_legacy": ["tiny_legacy.pth", "tiny_p4_legacy.pth", "nested_legacy.pth", "ok_hand_legacy.pth"],
        "fuzz_safetensors": ["tiny.expected.safetensors", "nested.expected.safetensors"],
    }
    for target, files in seeds.items():
        d = os.path.join(CORPUS, target)
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
        for f in files:
            shutil.copy(path(f), os.path.join(d, f))
    # A safetensors seed with the dtypes safetensors_io cannot write (BF16) and metadata.
    header = b'{"__metadata__":{"format":"pt"},"b":{"dtype":"BF16","shape":[2],"data_offsets":[0,4]},' \
             b'"i":{"dtype":"I64","shape":[],"data_offsets":[4,12]}}'
    header += b" " * (-len(header) % 8)
    with open(os.path.join(CORPUS, "fuzz_safetensors", "bf16_meta.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(header)) + header + b"\x80\x3f\x00\xc0" + struct.pack("<q", -3))


def main():
    shutil.rmtree(OUT, ignore_errors=True)
    os.makedirs(OUT)
    g = torch.Generator().manual_seed(0)
    cases = {"basic": basic_dict(g), "nested": nested_dict(g), "block": block_state_dict(),
             "tiny": collections.OrderedDict(w=torch.randn(2, 3, generator=g), n=torch.tensor(1))}
    for name, obj in cases.items():
        save_both(name, obj)
        save_expected(name, obj)
    save_both("tiny_p4", cases["tiny"], pickle_protocol=4)  # FRAME, MEMOIZE, SHORT_BINUNICODE, STACK_GLOBAL
    # basic.pth rewritten by Python's zipfile under the prefix 'archive' with a 'byteorder' record:
    # another layout (no padding, no data descriptors, no zip64) that must load the same.
    recs = zip_records("basic.pth")
    recs = [("archive/" + n.split("/", 1)[1], d) for n, d in recs]
    write_zip("rezipped.pth", recs[:1] + [("archive/byteorder", b"little")] + recs[1:])
    # Where the legacy file's storage data starts, for the truncation tests.
    legacy = open(path("basic_legacy.pth"), "rb").read()
    with open(path("basic_legacy.layout.txt"), "w") as f:
        f.write(f"object_pickle_start {skip_pickles(legacy, 3)}\ndata_start {skip_pickles(legacy, 5)}\n"
                f"size {len(legacy)}\n")
    bad_files()
    corpus()
    total = sum(os.path.getsize(path(f)) for f in os.listdir(OUT))
    print(f"wrote {len(os.listdir(OUT))} files, {total} bytes, to {OUT}")
    assert total < 300_000


if __name__ == "__main__":
    main()
