"""Import SAELens 6.18's SAE and trainer modules from a source checkout with Debian's torch 1.13, where
SAELens cannot be pip-installed: the packages it imports but these modules do not need at run time
(wandb, datasets, transformers, huggingface_hub, ...) are replaced by inert stand-ins, safetensors by a
small numpy implementation of the format, TransformerLens's HookPoint by an identity module, and three
torch 2.x APIs (autograd.Function.setup_context, torch.amp.GradScaler, lr_scheduler.LRScheduler) by
their torch 1.13 equivalents.

usage (from another tools/ script):
    from saelens_stubs import import_saelens
    sae_lens = import_saelens("/path/to/SAELens")   # a checkout of github.com/jbloomAus/SAELens at v6.18.0
"""
import importlib
import json
import struct
import sys
import types

import numpy as np
import torch
from torch import nn

_DTYPES = {"F32": (np.float32, torch.float32), "F64": (np.float64, torch.float64), "F16": (np.float16, torch.float16),
           "I64": (np.int64, torch.int64), "I32": (np.int32, torch.int32)}


class _AnythingMeta(type):
    def __getattr__(cls, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return _Anything()


class _Anything(metaclass=_AnythingMeta):
    """Stands in for any class or function of a stubbed package: callable, any attribute, a context manager."""

    def __init__(self, *args, **kwargs):
        pass

    def __call__(self, *args, **kwargs):
        return _Anything()

    def __getattr__(self, name):
        return _Anything()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def __or__(self, other):
        return self

    __ror__ = __or__

    def __class_getitem__(cls, item):
        return cls


class _StubModule(types.ModuleType):
    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return _Anything


def _stub(name, **attrs):
    mod = _StubModule(name)
    mod.__path__ = []
    for k, v in attrs.items():
        setattr(mod, k, v)
    sys.modules[name] = mod
    return mod


# ---- safetensors (the file format, with numpy) ----
def _read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        a, b = info["data_offsets"]
        raw = data[a:b]
        if info["dtype"] == "BF16":
            bits = np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16
            t = torch.from_numpy(bits.view(np.float32).reshape(info["shape"]).copy()).to(torch.bfloat16)
        else:
            npd, _ = _DTYPES[info["dtype"]]
            t = torch.from_numpy(np.frombuffer(raw, dtype=np.dtype(npd).newbyteorder("<")).reshape(info["shape"]).copy())
        out[name] = t
    return out


def _write_safetensors(tensors, path, metadata=None):
    header, chunks, off = {}, [], 0
    for name, t in tensors.items():
        t = t.detach().cpu().contiguous()
        if t.dtype == torch.bfloat16:
            raw = (t.float().numpy().view(np.uint32) >> 16).astype("<u2").tobytes()
            dt = "BF16"
        else:
            dt = next(k for k, (_, td) in _DTYPES.items() if td == t.dtype)
            raw = t.numpy().astype(np.dtype(_DTYPES[dt][0]).newbyteorder("<")).tobytes()
        header[name] = {"dtype": dt, "shape": list(t.shape), "data_offsets": [off, off + len(raw)]}
        chunks.append(raw)
        off += len(raw)
    header["__metadata__"] = dict(metadata or {"format": "pt"})
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for c in chunks:
            f.write(c)


class _SafeOpen:
    def __init__(self, path, framework="pt", device="cpu"):
        self._t = _read_safetensors(path)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def keys(self):
        return list(self._t.keys())

    def get_tensor(self, name):
        return self._t[name]


# ---- TransformerLens hook points (the SAE classes only pass activations through them) ----
class HookPoint(nn.Module):
    """An identity module standing in for TransformerLens's hook point."""

    def forward(self, x):
        return x


class HookedRootModule(nn.Module):
    """Only what the SAE classes use: setup() indexes the submodules by name, and the HookPoints among them."""

    def setup(self):
        self.mod_dict = {name: m for name, m in self.named_modules() if name}
        self.hook_dict = {name: m for name, m in self.mod_dict.items() if isinstance(m, HookPoint)}


class _GradScaler:
    """torch.amp.GradScaler with enabled=False (torch >= 2.3); the trainer never enables it here."""

    def __init__(self, *args, enabled=False, **kwargs):
        assert not enabled, "autocast is not supported with the stand-in GradScaler"

    def scale(self, loss):
        return loss

    def unscale_(self, optimizer):
        pass

    def step(self, optimizer):
        optimizer.step()

    def update(self):
        pass


def _port_function(fn):
    """A torch 2.x autograd.Function (forward without ctx + setup_context) as a torch 1.13 one."""

    class Ported(torch.autograd.Function):
        @staticmethod
        def forward(ctx, *inputs):
            out = fn.forward(*inputs)
            fn.setup_context(ctx, inputs, out)
            return out

        @staticmethod
        def backward(ctx, *grads):
            return fn.backward(ctx, *grads)

    Ported.__name__ = fn.__name__
    return Ported


_STUB_ROOTS = {"wandb", "datasets", "simple_parsing", "transformers", "requests", "tqdm", "einops", "jaxtyping", "huggingface_hub",
               "babe", "nltk", "plotly", "zstandard", "transformer_lens", "safetensors", "pyarrow", "pandas", "matplotlib", "yaml"}


class _StubFinder:
    """Makes any module under a stubbed package importable as an inert stand-in."""

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] not in _STUB_ROOTS or name in sys.modules:
            return None
        import importlib.machinery
        return importlib.machinery.ModuleSpec(name, self)

    def create_module(self, spec):
        mod = _StubModule(spec.name)
        mod.__path__ = []
        return mod

    def exec_module(self, module):
        pass


def import_saelens(src):
    """Import sae_lens from the checkout `src` (its saes, registry and training modules) and return the package."""
    te = importlib.import_module("typing_extensions")
    if not hasattr(te, "deprecated"):
        te.deprecated = lambda *a, **k: (lambda f: f)
    try:
        import yaml  # noqa: F401  (real yaml when Debian has it)
        _STUB_ROOTS.discard("yaml")
    except ImportError:
        pass
    sys.meta_path.insert(0, _StubFinder())
    for name in ["jaxtyping", "tqdm", "tqdm.auto", "huggingface_hub.utils", "transformer_lens.hook_points", "safetensors", "safetensors.torch"]:
        importlib.import_module(name)
    sys.modules["jaxtyping"].Float = _Anything
    sys.modules["jaxtyping"].Int = _Anything
    sys.modules["tqdm.auto"].tqdm = _Anything
    sys.modules["tqdm"].tqdm = _Anything
    sys.modules["huggingface_hub.utils"].EntryNotFoundError = type("EntryNotFoundError", (Exception,), {})
    sys.modules["transformer_lens.hook_points"].HookPoint = HookPoint
    sys.modules["transformer_lens.hook_points"].HookedRootModule = HookedRootModule
    sys.modules["safetensors"].safe_open = _SafeOpen
    sys.modules["safetensors.torch"].load_file = lambda path, device="cpu": _read_safetensors(path)
    sys.modules["safetensors.torch"].save_file = _write_safetensors
    if not hasattr(torch, "amp") or not hasattr(torch.amp, "GradScaler"):
        torch.amp.GradScaler = _GradScaler
    import torch.optim.lr_scheduler as lrs
    if not hasattr(lrs, "LRScheduler"):
        lrs.LRScheduler = lrs._LRScheduler  # the torch 2.0 name
    sys.path.insert(0, src)
    sae_lens = importlib.import_module("sae_lens")
    jr = importlib.import_module("sae_lens.saes.jumprelu_sae")
    if not hasattr(torch.autograd.Function, "setup_context"):
        jr.JumpReLU = _port_function(jr.JumpReLU)
        jr.Step = _port_function(jr.Step)
    return sae_lens


read_safetensors = _read_safetensors
write_safetensors = _write_safetensors
