#!/usr/bin/env bash
# Five `groupy node gms5` processes on loopback at a saturating load (every worker multicasts
# every ~2 ms), the leader SIGKILLed at KILL_AT s of DUR; then `groupy verify` on the logs
# (notes/gms5.md, "A failover starved by retries").
# Usage: DUR=55 KILL_AT=45 notes/sigkill-under-load.sh [groupy] [log dir] [first port]
set -u
g=${1:-target/release/groupy}; dir=${2:-/tmp/sigkill-under-load}; base=${3:-7100}
dur=${DUR:-55}; kill_at=${KILL_AT:-45}
rm -rf "$dir"; mkdir -p "$dir"
peers=$(for i in 0 1 2 3 4; do printf '127.0.0.1:%d,' $((base + i)); done); peers=${peers%,}
pids=()
for i in 0 1 2 3 4; do
  "$g" node gms5 --id $i --listen 127.0.0.1:$((base + i)) --peers "$peers" --log-dir "$dir" \
      --duration "$dur" --sleep 2 --fresh 2> "$dir/summary-$i.txt" &
  pids+=($!)
done
sleep "$kill_at"; kill -9 "${pids[0]}"; echo "node 0 SIGKILLed at $kill_at s"
for p in "${pids[@]:1}"; do wait "$p"; done
cat "$dir"/summary-[1-4].txt
"$g" verify "$dir"
