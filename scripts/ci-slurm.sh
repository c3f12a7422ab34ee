#!/usr/bin/env bash
# CI: the demo pipeline on a real one-machine SLURM cluster, 3 shards per data-parallel stage, compared
# with a local run of the same stages. Fails (never skips) when something it needs is missing.
#
#   bash scripts/ci-slurm.sh                  # as root: sets up the cluster (scripts/slurm-local.sh) first
#   CI_SLURM_SHARDS=3 CI_SLURM_FROM=01 CI_SLURM_TO=05 bash scripts/ci-slurm.sh
#   CI_SLURM_NOTEBOOKS=1 ...                  # local run and SLURM run both render the notebooks (needs Jupyter + tslab kernel)
set -euo pipefail
cd "$(dirname "$0")/.."
SHARDS="${CI_SLURM_SHARDS:-3}"
FROM="${CI_SLURM_FROM:-01}"
TO="${CI_SLURM_TO:-05}"
LOCAL=ci-slurm-local
SHARDED=ci-slurm-sharded
die() { echo "ci-slurm: $*" >&2; exit 1; }

if [ "$(id -u)" = 0 ]; then
  bash scripts/slurm-local.sh
else
  sinfo -h -o '%t' 2>/dev/null | grep -qE 'idle|mix|alloc' || die "no SLURM cluster is up and this is not root: run sudo bash scripts/slurm-local.sh first"
fi
[ -d dist/lib ] || npm run build
[ -d data/hub ] && [ -n "$(ls -A data/hub 2>/dev/null)" ] || die "the demo world (data/hub) is missing: run npm run make:demo"

rm -rf "runs/$LOCAL" "runs/$SHARDED"
start=$(date +%s)
if [ "${CI_SLURM_NOTEBOOKS:-0}" = 1 ]; then
  echo "ci-slurm: local run (notebooks $FROM-$TO) into runs/$LOCAL"
  node dist/lib/pipeline/cli.js --run-name "$LOCAL" --from "$FROM" --to "$TO"
  NB=()
else
  echo "ci-slurm: local run (stages $FROM-$TO, one process each, the functions the notebooks call) into runs/$LOCAL"
  for s in $(seq -w "$FROM" "$TO"); do
    node bin/saelab.js stage "$s" --run-name "$LOCAL"
  done
  NB=(--no-notebooks)
fi
mid=$(date +%s)
echo "ci-slurm: SLURM run with $SHARDS shards into runs/$SHARDED"
node dist/lib/pipeline/cli.js --scheduler slurm --shards "$SHARDS" --from "$FROM" --to "$TO" --run-name "$SHARDED" "${NB[@]}"
end=$(date +%s)
for s in $(seq -w "$FROM" "$TO"); do
  d=$(ls -d runs/$SHARDED/${s}_*/ 2>/dev/null | head -1)
  [ -n "$d" ] && [ -f "$d/manifest.json" ] || die "stage $s has no complete result in runs/$SHARDED"
done
ls runs/$SHARDED/*/shards/*-of-"$SHARDS"/shard.json >/dev/null 2>&1 || die "no shards of $SHARDS were written: the stages did not run sharded"
node dist/lib/pipeline/compareRuns.js "runs/$LOCAL" "runs/$SHARDED"
echo "ci-slurm: ok (local $((mid - start)) s, SLURM with $SHARDS shards $((end - mid)) s)"
