#!/usr/bin/env bash
# Two builds of the server, measured back to back by the same accord-bench: A, B, A, B, …
# so that the machine's drift falls on both. Prints one table of every figure, each run in
# its own column, and keeps the JSON lines in OUT.
#
#   bash bench/ab/run.sh A_SERVER B_SERVER [RUNS] [OUT] -- [accord-bench arguments]
#
# Default: 2 runs of each, `--database sqlite --rows 2000` (the whole flow at a small table),
# the bench at target/release/accord-bench.
set -euo pipefail
cd "$(dirname "$0")/../.."
a=${1:?A server binary}; b=${2:?B server binary}; shift 2
runs=2; out=target/ab
if [ $# -gt 0 ] && [ "$1" != "--" ]; then runs=$1; shift; fi
if [ $# -gt 0 ] && [ "$1" != "--" ]; then out=$1; shift; fi
[ "${1:-}" = "--" ] && shift
args=("$@")
[ ${#args[@]} -eq 0 ] && args=(--database sqlite --rows 2000)
bench=${ACCORD_BENCH:-target/release/accord-bench}
mkdir -p "$out"
for i in $(seq 1 "$runs"); do
    for side in A B; do
        bin=$a; [ $side = B ] && bin=$b
        echo "== $side run $i: $bin $(date +%T)" >&2
        "$bench" "${args[@]}" --server-bin "$bin" > "$out/$side-$i.jsonl" 2> "$out/$side-$i.err" \
            || echo "   (exit $?; see $out/$side-$i.err)" >&2
    done
done
python3 bench/ab/table.py "$out" "$runs"
