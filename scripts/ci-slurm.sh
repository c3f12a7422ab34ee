#!/usr/bin/env bash
# CI: the demo pipeline on a real one-machine SLURM cluster, 3 shards per data-parallel stage, compared
# with a local run of the same stages. Fails (never skips) when something it needs is missing.
#
#   bash scripts/ci-slurm.sh                  # as root: sets up the cluster (scripts/slurm-local.sh) first
#   CI_SLURM_SHARDS=3 CI_SLURM_FROM=01 CI_SLURM_TO=05 bash scripts/ci-slurm.sh
#   CI_SLURM_NOTEBOOKS=0 ...                  # stages only, without rendering the notebooks (faster)
#   CI_SLURM_FROM= CI_SLURM_TO= ...           # empty: no bound, i.e. every stage (the issue's exact command)
#
# By default (CI_SLURM_NOTEBOOKS=1) both runs are the pipeline command itself, with notebooks rendered:
#   local: npm run pipeline -- --from 01 --to 05 --run-name ci-slurm-local
#   SLURM: npm run pipeline -- --scheduler slurm --shards 3 --from 01 --to 05 --run-name ci-slurm-sharded
# (run as `node dist/lib/pipeline/cli.js ...`, which is what `npm run pipeline` runs after building).
set -euo pipefail
cd "$(dirname "$0")/.."
SHARDS="${CI_SLURM_SHARDS:-3}"
FROM="${CI_SLURM_FROM-01}"
TO="${CI_SLURM_TO-05}"
RANGE=()
[ -n "$FROM" ] && RANGE+=(--from "$FROM")
[ -n "$TO" ] && RANGE+=(--to "$TO")
NOTEBOOKS="${CI_SLURM_NOTEBOOKS:-1}"
LOCAL=ci-slurm-local
SHARDED=ci-slurm-sharded
die() { echo "ci-slurm: $*" >&2; exit 1; }

t0=$(date +%s)
if [ "$(id -u)" = 0 ]; then
  bash scripts/slurm-local.sh
else
  sinfo -h -o '%t' 2>/dev/null | grep -qE 'idle|mix|alloc' || die "no SLURM cluster is up and this is not root: run sudo bash scripts/slurm-local.sh first"
fi
[ -f dist/lib/pipeline/cli.js ] || npm run build
[ -d data/hub ] && [ -n "$(ls -A data/hub 2>/dev/null)" ] || die "the demo world (data/hub) is missing: run npm run make:demo"

# jobs of an interrupted earlier CI run would write into the folders removed below: cancel them first
stale=$(squeue --me -h -o '%F %j' | awk -v p="saelab-$SHARDED-" 'index($2, p) == 1 { print $1 }' | sort -u)
if [ -n "$stale" ]; then
  echo "ci-slurm: cancelling jobs of an earlier run: $(echo $stale)"
  scancel $stale
  for _ in $(seq 1 30); do [ -z "$(squeue --me -h -o '%F' -j "$(echo $stale | tr ' ' ,)" 2>/dev/null)" ] && break; sleep 1; done
fi
rm -rf "runs/$LOCAL" "runs/$SHARDED"

start=$(date +%s)
if [ "$NOTEBOOKS" = 1 ]; then
  echo "ci-slurm: local run (notebooks ${FROM:-first}-${TO:-last}) into runs/$LOCAL"
  node dist/lib/pipeline/cli.js --run-name "$LOCAL" "${RANGE[@]}"
  NB=()
else
  # the stages with a headless function in the range, each in one process (the functions the notebooks call)
  stages=$(node -e 'const { STAGES } = require("./dist/lib/stages/registry.js");
    const lo = Number(process.argv[1] || -Infinity), hi = Number(process.argv[2] || Infinity);
    console.log(STAGES.map((s) => s.name).filter((n) => { const k = Number(n.split("_")[0]); return k >= lo && k <= hi; }).sort().join(" "));' "$FROM" "$TO")
  echo "ci-slurm: local run (stages $stages) into runs/$LOCAL"
  for s in $stages; do
    node bin/saelab.js stage "$s" --run-name "$LOCAL"
  done
  NB=(--no-notebooks)
fi
mid=$(date +%s)
echo "ci-slurm: SLURM run with $SHARDS shards into runs/$SHARDED"
node dist/lib/pipeline/cli.js --scheduler slurm --shards "$SHARDS" "${RANGE[@]}" --run-name "$SHARDED" "${NB[@]}"
end=$(date +%s)

# the SLURM run really ran sharded, logged every shard, and (with notebooks) rendered every notebook
shopt -s nullglob
stages=0
for d in runs/$LOCAL/[0-9]*_*/; do
  stage=$(basename "$d")
  stages=$((stages + 1))
  if [ -f "$d/manifest.json" ]; then
    [ -f "runs/$SHARDED/$stage/manifest.json" ] || die "stage $stage has no complete result in runs/$SHARDED"
  fi
  if [ -d "runs/$SHARDED/$stage/shards" ]; then
    for i in $(seq 0 $((SHARDS - 1))); do
      [ -f "runs/$SHARDED/$stage/shards/$i-of-$SHARDS/shard.json" ] || die "$stage: shard $i/$SHARDS has no shard.json"
      [ -s "runs/$SHARDED/logs/$stage.shards-$i.log" ] || die "$stage: no log of shard $i/$SHARDS in runs/$SHARDED/logs/"
    done
  fi
  if [ "$NOTEBOOKS" = 1 ]; then
    for r in "$LOCAL" "$SHARDED"; do [ -s "runs/$r/$stage.html" ] || die "runs/$r/$stage.html was not rendered"; done
  fi
done
[ "$stages" -gt 0 ] || die "the local run wrote no stage folders into runs/$LOCAL"
n=$(ls -d runs/$SHARDED/*/shards/*-of-"$SHARDS" 2>/dev/null | wc -l)
[ "$n" -gt 0 ] || die "no shards of $SHARDS were written: the stages did not run sharded"
echo "ci-slurm: $n shards of $SHARDS across $(ls -d runs/$SHARDED/*/shards | wc -l) data-parallel stages; logs in runs/$SHARDED/logs/"
node dist/lib/pipeline/compareRuns.js "runs/$LOCAL" "runs/$SHARDED"
echo "ci-slurm: ok in $((end - t0)) s (cluster setup $((start - t0)) s, local $((mid - start)) s, SLURM with $SHARDS shards $((end - mid)) s)"
