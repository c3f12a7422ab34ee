#!/usr/bin/env python3
"""Check once, with real torch, that saelab's writers produce files Python reads (not run by tests).

    npx tsc -p tsconfig.json && /usr/bin/python3 tools/check_torch_writer.py

Uses the compiled dist/lib/io to write a state_dict (plain and forced-zip64) and a dumpPickle'd
config, then torch.load / pickle.load them and compares with the values written.
"""
import json
import math
import os
import pickle
import subprocess
import tempfile

import torch

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..')
tmp = tempfile.mkdtemp()
script = r"""
const io = require('./dist/lib/io');
const dir = process.argv[1];
const tensors = {
  'embed.W_E': { shape: [2, 3], data: new Float32Array([1, 2, 3, -4, 5.5, 1e-8]) },
  half: { dtype: 'F16', shape: [2], data: [0.5, -2] },
  bf: { dtype: 'BF16', shape: [1, 2], data: [1.5, -256] },
  long: { dtype: 'I64', shape: [3], data: new BigInt64Array([1n, -(2n ** 50n), 7n]) },
  mask: { dtype: 'BOOL', shape: [2, 2], data: [1, 0, 1, 1] },
  scalar: { shape: [], data: new Float32Array([-100000]) },
  empty: { shape: [0, 4], data: new Float32Array(0) },
};
(async () => {
  await io.saveTorchStateDict(dir + '/plain.pth', tensors);
  await io.saveTorchStateDict(dir + '/zip64.pth', tensors, { forceZip64: true, archiveName: 'll_model' });
  io.writeFileAtomic(dir + '/cfg.pkl', io.dumpPickle({ n_layers: 2, eps: 1e-5, f: new io.PyFloat(2), dtype: new io.PyGlobal('torch', 'float32'),
    t: new io.PyTupleValue([1, null]), big: -(2n ** 70n), s: 'héllo', m: new Map([[1, 'one']]), l: [true, false] }));
})();
"""
subprocess.run(['node', '-e', script, tmp], cwd=ROOT, check=True)
expect = {
    'embed.W_E': torch.tensor([1, 2, 3, -4, 5.5, 1e-8], dtype=torch.float32).reshape(2, 3),
    'half': torch.tensor([0.5, -2], dtype=torch.float16),
    'bf': torch.tensor([[1.5, -256]], dtype=torch.bfloat16),
    'long': torch.tensor([1, -(2**50), 7], dtype=torch.int64),
    'mask': torch.tensor([[True, False], [True, True]]),
    'scalar': torch.tensor(-100000.0),
    'empty': torch.zeros(0, 4),
}
for name in ['plain.pth', 'zip64.pth']:
    sd = torch.load(os.path.join(tmp, name))
    assert list(sd.keys()) == list(expect.keys()), sd.keys()
    for k, v in expect.items():
        assert sd[k].dtype == v.dtype and sd[k].shape == v.shape and torch.equal(sd[k], v), (name, k, sd[k], v)
    print(name, 'OK: torch.load gives', {k: (str(v.dtype), tuple(v.shape)) for k, v in sd.items()})
cfg = pickle.load(open(os.path.join(tmp, 'cfg.pkl'), 'rb'))
assert cfg == {'n_layers': 2, 'eps': 1e-5, 'f': 2.0, 'dtype': torch.float32, 't': (1, None), 'big': -(2**70), 's': 'héllo',
               'm': {1: 'one'}, 'l': [True, False]}, cfg
assert isinstance(cfg['f'], float) and isinstance(cfg['n_layers'], int)
print('cfg.pkl OK: pickle.load gives', cfg)
