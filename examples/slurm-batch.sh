#!/usr/bin/env bash
# Grade a whole class on a Slurm cluster: a job array of SHARDS shards, then a
# merge job that runs when they have all ended.
#
#   SUBMISSIONS=/shared/hw2/submissions OUT=/shared/hw2/out bash examples/slurm-batch.sh
#
# run from the top of this repository, on a login node, with the harness
# installed (pip install -e .). OUT must be on a filesystem every node sees.
# Settings (environment): SUBMISSIONS (a folder whose every subfolder is one
# submission), OUT, SHARDS (default 4), SEED (the batch seed every shard uses;
# default: a random one, chosen here once), BATCH_OPTIONS (more batch options,
# e.g. "--timeout 10 --budget 900"). The class report ends up in
# $OUT/class-report/ (index.html, grades.csv, <id>/report.html).
# Modes: `submit` (the default), and the two the jobs run: `shard`, `merge`.
#SBATCH --job-name=gradecheck
#SBATCH --cpus-per-task=4
#SBATCH --time=02:00:00
#SBATCH --output=gradecheck-%A_%a.out
set -euo pipefail

SUBMISSIONS=${SUBMISSIONS:-submissions}
OUT=${OUT:-gradecheck-out}
N=${SHARDS:-4}
BATCH_OPTIONS=${BATCH_OPTIONS:-}

case "${1:-submit}" in
submit)
    export SUBMISSIONS OUT SHARDS="$N" SEED="${SEED:-$RANDOM}" BATCH_OPTIONS
    array=$(sbatch --parsable --array=0-$((N - 1)) --export=ALL "$0" shard)
    merge=$(sbatch --parsable --dependency=afterany:"${array%%;*}" --export=ALL "$0" merge)
    echo "shards: job array $array (seed $SEED); merge: job $merge -> $OUT/class-report"
    ;;
shard)
    # Array task i grades shard i+1 of N; a task that is run again resumes its shard.
    python -m harness batch "$SUBMISSIONS" --out "$OUT/shard-$((SLURM_ARRAY_TASK_ID + 1))" \
        --shard $((SLURM_ARRAY_TASK_ID+1))/$N --seed "${SEED:?the batch seed every shard shares}" \
        -n "${SLURM_CPUS_PER_TASK:-2}" $BATCH_OPTIONS
    ;;
merge)
    rm -rf "$OUT/class-report"  # merge writes into a new folder
    python -m harness merge "$OUT"/shard-* --out "$OUT/class-report"
    ;;
*)
    echo "usage: $0 [submit|shard|merge]" >&2
    exit 2
    ;;
esac
