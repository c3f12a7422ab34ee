"""Extract the registry facts saelab ships (release -> repo, model, loader, overrides, sae ids/paths/l0)
from a SAELens pretrained_saes.yaml into lib/sae/releases.json (read by lib/sae/releases.ts).
usage: python3 tools/gen_sae_releases.py path/to/pretrained_saes.yaml > lib/sae/releases.json"""
import json
import sys
import yaml

RELEASES = [
    "gpt2-small-res-jb", "gemma-2b-res-jb", "mistral-7b-res-wg", "gemma-scope-2b-pt-res-canonical",
    "gemma-scope-2b-pt-mlp-canonical", "gemma-scope-2b-pt-att-canonical",
    "pythia-70m-deduped-res-sm", "pythia-70m-deduped-att-sm", "pythia-70m-deduped-mlp-sm",
]

data = yaml.safe_load(open(sys.argv[1]))
out = {}
for r in RELEASES:
    v = data[r]
    saes = []
    for s in v["saes"]:
        e = {"id": s["id"], "path": s["path"]}
        for k in ("l0", "neuronpedia", "norm_scaling_factor"):
            if s.get(k) is not None:
                e[k] = s[k]
        saes.append(e)
    out[r] = {"repo_id": v["repo_id"], "model": v["model"], "conversion_func": v.get("conversion_func"),
              "config_overrides": v.get("config_overrides"), "saes": saes}

print(json.dumps(out, indent=2))
