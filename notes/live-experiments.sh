#!/usr/bin/env bash
# The assignment's experiments on the live group (notes/live.md): 20 seeded runs per line,
# each 5 s of multicasting (--sleep 100) at crash rate 1/100, then drained and judged.
# Usage: notes/live-experiments.sh [path/to/groupy]   (default target/release/groupy)
set -u
groupy=${1:-target/release/groupy}
experiment() {
    local label=$1; shift
    local bad=0 crashed=0 delivered=0
    for seed in $(seq 1 20); do
        out=$("$groupy" run "$@" --duration 5 --sleep 100 --crash-rate 1/100 --seed "$seed" \
            --quiet --format json)
        code=$?
        [ "$code" -eq 1 ] && bad=$((bad + 1))
        [ "$code" -gt 1 ] && { echo "error (exit $code) at seed $seed"; exit 2; }
        read -r c d < <(printf '%s' "$out" | python3 -c '
import json, sys
r = json.load(sys.stdin)
live = [n for n in r["node_reports"] if not n["crashed"]]
print(len(r["node_reports"]) - len(live), max([n["delivered"] for n in live] or [0]))')
        crashed=$((crashed + c)); delivered=$((delivered + d))
    done
    printf '%-34s out of sync in %2d of 20 runs; %.1f crashes and %d deliveries per run on average\n' \
        "$label" "$bad" "$(echo "$crashed / 20" | bc -l)" $((delivered / 20))
}
experiment "gms2, N=4, fifo links" gms2 --nodes 4
experiment "gms2, N=5, fifo links" gms2 --nodes 5
experiment "gms3, N=5, fifo links" gms3 --nodes 5
experiment "gms3, N=5, raw links, 1% drop" gms3 --nodes 5 --link raw --drop 0.01
# Beyond the assignment: the literal gms3 whose per-pair race the checker found (it needs the
# old leader's last message to be overtaken: --delay reorders), and gms4 on raw UDP with loss,
# duplicates and reordering on top of the crashes.
experiment "gms3-greedy, N=5, fifo, 5 ms delay" gms3-greedy --nodes 5 --delay 5
experiment "gms3, N=5, fifo, 5 ms delay" gms3 --nodes 5 --delay 5
experiment "gms4, N=5, raw, 5% drop, 5% dup, 5 ms" gms4 --nodes 5 --drop 0.05 --duplicate 0.05 --delay 5
