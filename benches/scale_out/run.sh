#!/usr/bin/env bash
# Aggregate live capacity of 1, 2 and 3 `ddalkkak serve` instances on one PostgreSQL database:
# each instance is its own process with its own model threads; `examples/live_load.rs --servers`
# spreads the streams evenly over them and prints the latency table for each stream count.
#
#   bash benches/scale_out/run.sh [STREAMS_PER_CORE_LIST] [SECONDS]
#
# On a 2-core machine one instance runs pinned to one core (taskset), two run on one core each,
# and three share the two cores: streams per core is the figure that carries to bigger machines
# (docs/deployment.md, "Sizing"). Needs PostgreSQL at $DDALKKAK_TEST_DATABASE_URL (default the
# local `test` database) and the models (`bash scripts/setup.sh`).
set -euo pipefail
cd "$(dirname "$0")/../.."

per_core="${1:-2,3,4}"
seconds="${2:-40}"
admin_url="${DDALKKAK_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}"
cargo build --quiet --bin ddalkkak --example live_load
bin="$CARGO_TARGET_DIR/debug/ddalkkak"
load="$CARGO_TARGET_DIR/debug/examples/live_load"

db="ddalkkak_scale_$$"
base="${admin_url%/*}"
psql -q "$admin_url" -c "CREATE DATABASE $db"
url="$base/$db"
work="$(mktemp -d)"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    psql -q "$admin_url" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" || true
    rm -rf "$work"
}
trap cleanup EXIT

export DDALKKAK_DATABASE_URL="$url"
export DDALKKAK_ENCRYPTION_KEY="$(printf '1%.0s' {1..64})"
export DDALKKAK_TOKEN_SIGNING_KEY="$(printf '2%.0s' {1..64})"
"$bin" migrate >/dev/null
key="$("$bin" admin create-tenant --name Load --slug load --owner-email load@example.com 2>/dev/null \
    | awk '/^api key/ {print $3}')"

# run INSTANCES CPUSET... : starts the instances (each on its cpu set), measures, stops them.
run() {
    local n="$1"; shift
    local cpusets=("$@") servers=() port
    pids=()
    for i in $(seq 1 "$n"); do
        port=$((18100 + i))
        local cpus="${cpusets[$((i - 1))]}"
        taskset -c "$cpus" "$bin" serve --listen "127.0.0.1:$port" --metrics-listen "127.0.0.1:$((port + 100))" \
            --data-dir "$work/i$i" --instance-id "scale-$i" --llm none --asr-workers 1 --asr-models tiny.en \
            --max-live-sessions 64 --max-sessions-per-tenant 64 --max-sessions-per-key 64 \
            --rate-limit-per-key 0 >"$work/i$i.log" 2>&1 &
        pids+=($!)
        servers+=("127.0.0.1:$port")
    done
    for s in "${servers[@]}"; do
        until curl -sf "http://$s/readyz" >/dev/null; do sleep 0.5; done
    done
    local streams
    streams="$(echo "$per_core" | tr ',' '\n' | awk -v k="$CORES" '{printf "%s%d", (NR>1?",":""), $1*k}')"
    echo
    echo "## $n instance(s) on $CORES core(s) (cpu sets ${cpusets[*]}), streams $streams"
    "$load" --servers "$(IFS=,; echo "${servers[*]}")" --key "$key" --pids "$(IFS=,; echo "${pids[*]}")" \
        --streams "$streams" --seconds "$seconds"
    for pid in "${pids[@]}"; do kill "$pid"; done
    wait "${pids[@]}" 2>/dev/null || true
}

CORES=1 run 1 0
CORES=2 run 2 0 1
CORES=2 run 3 0-1 0-1 0-1
