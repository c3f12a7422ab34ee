"""Check saelab's .npz writer against NumPy (run by hand, never from tests):
   node -e "<write files>" && python3 tools/check_crosslayer_npz.py FILE.npz [...]
Prints each member's dtype, shape, and sum, so a reader can compare with what saelab wrote."""
import sys
import zipfile
import numpy as np

for f in sys.argv[1:]:
    with zipfile.ZipFile(f) as z:
        assert z.testzip() is None, f"{f}: CRC mismatch"
    with np.load(f) as d:
        for k in d.files:
            a = d[k]
            print(f, k, a.dtype, a.shape, float(a.astype(np.float64).sum()))
