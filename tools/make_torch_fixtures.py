#!/usr/bin/env python3
"""Make the small PyTorch/pickle fixtures under test/fixtures/torch (run with Debian's python3-torch).

    /usr/bin/python3 tools/make_torch_fixtures.py

Writes real torch.save checkpoints, an InterpBench-like ll_model_cfg.pkl in several pickle
protocols, and the expected values as JSON (computed here by torch/numpy, independently of saelab).
"""
import collections
import dataclasses
import io
import json
import math
import os
import pickle
import sys
import types
import zipfile

import numpy as np
import torch

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'test', 'fixtures', 'torch')
os.makedirs(OUT, exist_ok=True)
torch.manual_seed(0)

DTYPES = {torch.float32: 'F32', torch.float16: 'F16', torch.bfloat16: 'BF16', torch.int64: 'I64', torch.bool: 'BOOL'}


def expected(t):
    c = t.contiguous()
    if t.dtype == torch.int64:
        values = [str(v) for v in c.flatten().tolist()]  # strings keep 64-bit precision in JSON
    elif t.dtype == torch.bool:
        values = [int(v) for v in c.flatten().tolist()]
    else:
        values = c.float().flatten().tolist()  # f16/bf16 values are exact in float32
    return {'dtype': DTYPES[t.dtype], 'shape': list(t.shape), 'values': values,
            'stride': list(t.stride()), 'storage_offset': t.storage_offset(), 'contiguous': t.is_contiguous()}


# 1. a state_dict with every supported dtype, 0-d and empty tensors, and strided / offset views
base = torch.arange(24, dtype=torch.float32).reshape(4, 6) / 4 - 2
sd = collections.OrderedDict()
sd['f32'] = torch.randn(3, 4)
sd['f16'] = torch.tensor([1.0, -0.5, 65504.0, 1e-4, 0.333], dtype=torch.float16)
sd['bf16'] = torch.tensor([[1.5, -3.0, 0.1], [100.0, -1e-3, 7.0]], dtype=torch.bfloat16)
sd['i64'] = torch.tensor([0, -7, 2**40 + 3, -(2**62)], dtype=torch.int64)
sd['bool'] = torch.tensor([[True, False], [False, True]])
sd['blocks.0.attn.mask'] = torch.tril(torch.ones(5, 5, dtype=torch.bool))
sd['blocks.0.attn.IGNORE'] = torch.tensor(-1e5)
sd['empty'] = torch.zeros(0, 3)
sd['row_view'] = base[1]            # contiguous, storage offset 6
sd['transposed'] = base.t()         # strides (1, 6)
sd['sub_block'] = base[1:3, 2:5]    # strides (6, 1), offset 8
sd['strided_1d'] = base[:, 1]       # stride 6, offset 1
sd['W_E'] = torch.randn(6, 12)
torch.save(sd, os.path.join(OUT, 'state_dict.pth'))
with open(os.path.join(OUT, 'state_dict.expected.json'), 'w') as f:
    json.dump({k: expected(v) for k, v in sd.items()}, f, indent=1)
reloaded = torch.load(os.path.join(OUT, 'state_dict.pth'))
assert all(torch.equal(reloaded[k], sd[k]) for k in sd)
assert reloaded['row_view'].storage_offset() == 6 and reloaded['transposed'].stride() == (1, 6)


def rezip(src, dst, edit, folder=None):
    """Copy a torch zip with Python's zipfile (no 64-byte alignment), editing data.pkl and renaming the folder."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, 'w', zipfile.ZIP_STORED) as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            prefix, rest = info.filename.split('/', 1)
            if rest == 'data.pkl':
                data = edit(data)
            zout.writestr((folder or prefix) + '/' + rest, data)


# 2. the same checkpoint as if saved on a GPU: storage locations 'cuda:0', another folder name
cuda_sd = collections.OrderedDict([('a', torch.tensor([1.0, 2.0, 3.0])), ('b', torch.tensor([[4, 5]], dtype=torch.int64))])
buf = io.BytesIO()
torch.save(cuda_sd, buf)
with open(os.path.join(OUT, 'tmp.pth'), 'wb') as f:
    f.write(buf.getvalue())
cpu_loc = b'X\x03\x00\x00\x00cpu'
def to_cuda(pkl):
    assert pkl.count(cpu_loc) >= 1
    return pkl.replace(cpu_loc, b'X\x06\x00\x00\x00cuda:0')
rezip(os.path.join(OUT, 'tmp.pth'), os.path.join(OUT, 'cuda_location.pth'), to_cuda, folder='my_model')
os.remove(os.path.join(OUT, 'tmp.pth'))
with zipfile.ZipFile(os.path.join(OUT, 'cuda_location.pth')) as z:
    assert b'cuda:0' in z.read('my_model/data.pkl')
# torch itself reads it back when mapped to the CPU
back = torch.load(os.path.join(OUT, 'cuda_location.pth'), map_location='cpu')
assert torch.equal(back['a'], cuda_sd['a']) and torch.equal(back['b'], cuda_sd['b'])
with open(os.path.join(OUT, 'cuda_location.expected.json'), 'w') as f:
    json.dump({k: expected(v) for k, v in cuda_sd.items()}, f, indent=1)

# 3. an InterpBench-like ll_model_cfg.pkl: a HookedTransformerConfig.to_dict() for case 3
#    (TransformerLens post-init fills initializer_range/attn_scale with numpy float64, dtype torch.float32)
cfg = {
    'n_layers': 2, 'd_model': 12, 'n_ctx': 5, 'd_head': 3, 'model_name': 'custom', 'n_heads': 4, 'd_mlp': 48,
    'act_fn': 'gelu', 'd_vocab': 6, 'eps': 1e-05, 'use_attn_result': False, 'use_attn_scale': True,
    'attn_scale': np.sqrt(3), 'use_split_qkv_input': False, 'use_hook_mlp_in': False, 'use_attn_in': False,
    'use_local_attn': False, 'original_architecture': None, 'from_checkpoint': False, 'checkpoint_index': None,
    'checkpoint_label_type': None, 'checkpoint_value': None, 'tokenizer_name': None, 'window_size': None,
    'attn_types': None, 'init_mode': 'gpt2', 'normalization_type': None, 'device': 'cuda', 'n_devices': 1,
    'attention_dir': 'causal', 'attn_only': False, 'seed': 0, 'initializer_range': 0.8 / np.sqrt(12),
    'init_weights': True, 'scale_attn_by_inverse_layer_idx': False, 'positional_embedding_type': 'standard',
    'final_rms': False, 'd_vocab_out': 1, 'parallel_attn_mlp': False, 'rotary_dim': None, 'n_params': 3456,
    'use_hook_tokens': False, 'gated_mlp': False, 'default_prepend_bos': True, 'dtype': torch.float32,
    'tokenizer_prepends_bos': None, 'n_key_value_heads': None, 'post_embedding_ln': False, 'rotary_base': 10000,
    'trust_remote_code': False, 'rotary_adjacent_pairs': False,
    # extra fields exercising the data-only allow-list
    'np_int64': np.int64(-(2**40)), 'np_int32': np.int32(7), 'np_float32': np.float32(0.1), 'np_bool': np.bool_(True),
    'np_float16': np.float16(0.5), 'np_uint8': np.uint8(200), 'np_dtype': np.dtype('float32'),
    'bf16_dtype': torch.bfloat16, 'torch_device': torch.device('cuda', 0), 'cpu_device': torch.device('cpu'),
    'a_tuple': (1, 'two', 3.5), 'a_list': [1, [2, 3]], 'a_set': {4}, 'nested': collections.OrderedDict([('x', 1), ('y', None)]),
    'int_keys': {1: 'one', 2: 'two'}, 'big_int': 2**70, 'neg_big': -(2**70), 'bytes': b'\x00\xffab', 'unicode': 'héllo ✓',
    'inf': float('inf'), 'neg_zero': -0.0,
}
expect_cfg = {}
for k, v in cfg.items():
    if isinstance(v, np.dtype):
        expect_cfg[k] = {'str': v.name}
    elif isinstance(v, torch.dtype):
        expect_cfg[k] = {'str': str(v).replace('torch.', '')}
    elif isinstance(v, torch.device):
        expect_cfg[k] = {'str': str(v)}
    elif isinstance(v, (np.bool_, bool)):
        expect_cfg[k] = {'bool': bool(v)}
    elif isinstance(v, np.integer):
        expect_cfg[k] = {'int': str(int(v))}
    elif isinstance(v, np.floating):
        expect_cfg[k] = {'float': float(v)}
    elif isinstance(v, int) and not isinstance(v, bool):
        expect_cfg[k] = {'int': str(v)}
    elif isinstance(v, float):
        expect_cfg[k] = {'float': 'inf' if math.isinf(v) else v, 'negzero': math.copysign(1, v) < 0 and v == 0}
    elif isinstance(v, bytes):
        expect_cfg[k] = {'bytes': list(v)}
    elif isinstance(v, (tuple, list)):
        expect_cfg[k] = {'json': json.loads(json.dumps(v))}
    elif isinstance(v, set):
        expect_cfg[k] = {'set': sorted(v)}
    elif isinstance(v, dict) and all(isinstance(x, str) for x in v):
        expect_cfg[k] = {'json': dict(v)}
    elif isinstance(v, dict):
        expect_cfg[k] = {'map': [[kk, vv] for kk, vv in v.items()]}
    else:
        expect_cfg[k] = {'json': v}
for proto in range(0, 6):
    with open(os.path.join(OUT, f'll_model_cfg.p{proto}.pkl'), 'wb') as f:
        pickle.dump(cfg, f, protocol=proto)
    assert pickle.load(open(os.path.join(OUT, f'll_model_cfg.p{proto}.pkl'), 'rb'))['attn_scale'] == cfg['attn_scale']
with open(os.path.join(OUT, 'll_model_cfg.expected.json'), 'w') as f:
    json.dump(expect_cfg, f, indent=1)

# 4. a config pickled as a HookedTransformerConfig object (some InterpBench cases): a stand-in class
#    registered under TransformerLens's module name, pickled as NEWOBJ + BUILD(state dict)
mod = types.ModuleType('transformer_lens.HookedTransformerConfig')
pkg = types.ModuleType('transformer_lens')
sys.modules['transformer_lens'] = pkg
sys.modules['transformer_lens.HookedTransformerConfig'] = mod
@dataclasses.dataclass
class HookedTransformerConfig:
    n_layers: int
    d_model: int
    n_ctx: int
    d_head: int
    n_heads: int = -1
    act_fn: str = None
    d_vocab: int = -1
    d_vocab_out: int = -1
    normalization_type: str = 'LN'
    dtype: object = torch.float32
    device: str = None
HookedTransformerConfig.__module__ = 'transformer_lens.HookedTransformerConfig'
mod.HookedTransformerConfig = HookedTransformerConfig
obj = HookedTransformerConfig(n_layers=2, d_model=12, n_ctx=5, d_head=3, n_heads=4, act_fn='relu', d_vocab=6,
                              d_vocab_out=1, normalization_type=None, device='cuda')
with open(os.path.join(OUT, 'cfg_object.pkl'), 'wb') as f:
    pickle.dump(obj, f, protocol=4)
print('wrote fixtures to', os.path.normpath(OUT))
