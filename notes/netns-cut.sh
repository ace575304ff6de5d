#!/usr/bin/env bash
# Three `groupy node gms5` processes, each in its own Linux network namespace (its own
# network stack and address, joined to the others by a veth pair on a bridge, as separate
# hosts on one switch). The leader's link goes down for CUT_S seconds, then comes back.
# Every log must verify, and the majority must have delivered while the leader was cut off.
#
#   sudo notes/netns-cut.sh [GROUPY] [LOG_DIR]     (root: namespaces and links)
#
# Environment: PROTOCOL (gms5), AT_S (2: the cut starts), CUT_S (4: how long), RUN_S (12:
# seconds of multicasting), SUBNET (10.77.0), KEEP (1: leave the namespaces for a look).
# Exit 0 when the logs verify and the majority delivered during the cut, 1 when not, 2 when
# the namespaces cannot be made (not root, no `ip`).
set -u
GROUPY=${1:-target/release/groupy}
LOGS=${2:-$(mktemp -d /tmp/groupy-netns.XXXXXX)}
PROTOCOL=${PROTOCOL:-gms5}
AT_S=${AT_S:-2}
CUT_S=${CUT_S:-4}
RUN_S=${RUN_S:-12}
SUBNET=${SUBNET:-10.77.0}
N=3
# Short, unique names: interface names are at most 15 bytes.
TAG=g$$
BRIDGE=${TAG}br

cleanup() {
    [ "${KEEP:-0}" = 1 ] && return
    for i in $(seq 0 $((N - 1))); do
        ip netns del "${TAG}n$i" 2>/dev/null
        ip link del "${TAG}v$i" 2>/dev/null
    done
    ip link del "$BRIDGE" 2>/dev/null
}
trap cleanup EXIT

if ! ip link add "$BRIDGE" type bridge 2>/dev/null; then
    echo "cannot make a bridge (root and iproute2 are needed): skipped" >&2
    exit 2
fi
ip link set "$BRIDGE" up
PEERS=""
for i in $(seq 0 $((N - 1))); do
    PEERS="$PEERS${PEERS:+,}$SUBNET.$((i + 11)):7000"
done
for i in $(seq 0 $((N - 1))); do
    ns=${TAG}n$i
    ip netns add "$ns" || { echo "cannot make namespace $ns: skipped" >&2; exit 2; }
    # ${TAG}v$i stays in the root namespace on the bridge; ${TAG}p$i is the node's interface.
    ip link add "${TAG}v$i" type veth peer name "${TAG}p$i"
    ip link set "${TAG}p$i" netns "$ns"
    ip link set "${TAG}v$i" master "$BRIDGE" up
    ip -n "$ns" addr add "$SUBNET.$((i + 11))/24" dev "${TAG}p$i"
    ip -n "$ns" link set "${TAG}p$i" up
    ip -n "$ns" link set lo up
done

mkdir -p "$LOGS"
rm -f "$LOGS"/node-*.jsonl "$LOGS"/node-*.life
pids=()
for i in $(seq 0 $((N - 1))); do
    ip netns exec "${TAG}n$i" "$GROUPY" node "$PROTOCOL" --id "$i" \
        --listen "$SUBNET.$((i + 11)):7000" --peers "$PEERS" --log-dir "$LOGS" \
        --sleep 20 --duration "$RUN_S" --drain 3000 --quiet &
    pids+=($!)
done
sleep "$AT_S"
cut_ms=$(date +%s%3N)
ip link set "${TAG}v0" down
echo "n0's link down at $cut_ms ms (for $CUT_S s)"
sleep "$CUT_S"
heal_ms=$(date +%s%3N)
ip link set "${TAG}v0" up
echo "n0's link up at $heal_ms ms"
failed=0
for p in "${pids[@]}"; do
    wait "$p" || failed=1
done
[ $failed = 0 ] || echo "a node exited with an error" >&2

# Deliveries of each node while the leader was cut off (leaving 0.5 s for what was
# already stable to arrive).
during() {
    grep '"line":"deliver"' "$LOGS/node-$1.jsonl" |
        sed 's/.*"at_ms":\([0-9]*\).*/\1/' |
        awk -v a=$((cut_ms + 500)) -v b="$heal_ms" '$1 >= a && $1 < b' | wc -l
}
for i in $(seq 0 $((N - 1))); do
    echo "n$i delivered $(during "$i") during the cut, $(grep -c '"line":"deliver"' "$LOGS/node-$i.jsonl") in all"
done
"$GROUPY" verify "$LOGS" || failed=1
if [ "$(during 1)" -eq 0 ] || [ "$(during 2)" -eq 0 ]; then
    echo "the majority did not deliver during the cut" >&2
    failed=1
fi
echo "logs: $LOGS"
exit $failed
