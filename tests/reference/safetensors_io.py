"""Minimal safetensors writer (numpy only), so fixture scripts need no extra package.

Format: 8-byte little-endian header length, a JSON header mapping each name to
{"dtype", "shape", "data_offsets": [begin, end]} (offsets into the data section), then the data.
"""
import json
import struct

import numpy as np

_DTYPES = {np.dtype("float32"): "F32", np.dtype("float64"): "F64", np.dtype("int64"): "I64",
           np.dtype("float16"): "F16"}


def save(path, tensors, metadata=None):
    header, chunks, offset = {}, [], 0
    for name in sorted(tensors):
        arr = np.array(tensors[name], order="C", copy=True)  # keeps 0-d arrays 0-d
        data = arr.astype(arr.dtype.newbyteorder("<"), copy=False).tobytes()
        header[name] = {"dtype": _DTYPES[arr.dtype], "shape": list(arr.shape),
                        "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    blob = json.dumps(header, separators=(",", ":")).encode()
    blob += b" " * (-len(blob) % 8)  # keep the data section 8-byte aligned
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(blob)))
        f.write(blob)
        for c in chunks:
            f.write(c)


_NP = {v: k for k, v in _DTYPES.items()}


def load(path):
    """Reads a safetensors file into {name: numpy array} (F16/F32/F64/I64), plus its metadata."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    meta = header.pop("__metadata__", {})
    out = {}
    for name, e in header.items():
        b, end = e["data_offsets"]
        out[name] = np.frombuffer(data[b:end], dtype=_NP[e["dtype"]].newbyteorder("<")).reshape(e["shape"])
    return out, meta
