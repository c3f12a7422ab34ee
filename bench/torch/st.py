"""Minimal safetensors reading and writing for the torch benchmark scripts (no `safetensors` package needed).

read(path) maps the file and returns {name: tensor} viewing it (float32/int32 tensors, no copy until used);
write(path, tensors, metadata) writes the header and each tensor's bytes straight from its memory (no copy).
"""
import json
import mmap
import struct

import numpy as np
import torch

_NP = {"F32": np.float32, "I32": np.int32, "F16": np.float16, "I64": np.int64}
_NAME = {torch.float32: "F32", torch.int32: "I32", torch.float16: "F16", torch.int64: "I64"}


def read(path):
    f = open(path, "rb")
    n = struct.unpack("<Q", f.read(8))[0]
    header = json.loads(f.read(n))
    mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        a, b = info["data_offsets"]
        arr = np.frombuffer(mm, dtype=_NP[info["dtype"]], count=(b - a) // np.dtype(_NP[info["dtype"]]).itemsize, offset=base + a)
        out[name] = torch.from_numpy(arr.reshape(info["shape"]))  # read-only view of the mapping
    return out


def write(path, tensors, metadata=None):
    header, offset = {}, 0
    if metadata:
        header["__metadata__"] = metadata
    arrays = {}
    for name, t in tensors.items():
        t = t.contiguous()
        arrays[name] = t
        size = t.numel() * t.element_size()
        header[name] = {"dtype": _NAME[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + size]}
        offset += size
    js = json.dumps(header).encode()
    js += b" " * ((8 - (len(js) + 8) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(js)))
        f.write(js)
        for t in arrays.values():
            f.write(memoryview(t.numpy()).cast("B"))
