#!/usr/bin/env bash
# The HTTP server beside Go's net/http, side by side in one run: wrk -t1 -c64 -d5s against /healthz of examples/http_server.rs and of
# benches/go/http, alternately, ROUNDS times each; prints requests/s and p99
# latency per run and the best and median of each side. Before and after the
# wrk rounds, both servers hold 10,000 idle keep-alive connections
# (benches/idle_conns.py) and report their thread count and memory.
#
# Usage: benches/http.sh     (about a minute with the defaults)
# Env:   GO (default ~/.gov/bin/go), ROUNDS (3), DURATION (5s), CONNS (64),
#        IDLE (10000), GOMAXPROCS (2), CARGO_TARGET_DIR.
# Needs: wrk (Debian: apt-get install -y wrk), python3.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
GO=${GO:-$HOME/.gov/bin/go}
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5s}
CONNS=${CONNS:-64}
IDLE=${IDLE:-10000}
export GOMAXPROCS=${GOMAXPROCS:-2} GOTOOLCHAIN=local GOPROXY=off
GORT_PORT=18080
GO_PORT=18081

command -v wrk >/dev/null || { echo "http.sh: wrk not found (apt-get install -y wrk)" >&2; exit 1; }
[[ -x $GO ]] || { echo "http.sh: no go at $GO (set GO=...)" >&2; exit 1; }

echo "== building (cargo --release, go build)" >&2
GO_BIN=$(mktemp -d)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    rm -rf "$GO_BIN"
}
trap cleanup EXIT
(cd "$ROOT" && cargo build --release --example http_server >&2)
(cd "$ROOT/benches/go/http" && "$GO" build -o "$GO_BIN/http" .)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}

"$TARGET/release/examples/http_server" $GORT_PORT >/dev/null &
PIDS+=($!); GORT_PID=$!
"$GO_BIN/http" $GO_PORT >/dev/null &
PIDS+=($!); GO_PID=$!
for port in $GORT_PORT $GO_PORT; do
    for _ in $(seq 100); do
        curl -sf "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
        sleep 0.05
    done
done

echo "== $IDLE idle keep-alive connections to the fresh servers (target for gort: fewer than 2 + GOMAXPROCS*2 = $((2 + GOMAXPROCS * 2)) threads)"
printf "go:   "; python3 "$ROOT/benches/idle_conns.py" $GO_PORT $GO_PID "$IDLE"
printf "gort: "; python3 "$ROOT/benches/idle_conns.py" $GORT_PORT $GORT_PID "$IDLE"

# One wrk run: prints "RPS P99_MS".
bench() {
    local out rps p99
    out=$(wrk -t1 -c"$CONNS" -d"$DURATION" --latency "http://127.0.0.1:$1/healthz")
    rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
    p99=$(awk '$1 == "99%" {v=$2; if (v ~ /us$/) {sub(/us/,"",v); v/=1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v*=1000}; print v}' <<<"$out")
    echo "$rps $p99"
}

echo "== wrk -t1 -c$CONNS -d$DURATION /healthz, GOMAXPROCS=$GOMAXPROCS, $ROUNDS rounds"
printf "%-6s %-5s %12s %10s\n" round side "requests/s" "p99 ms"
GO_RPS=(); GORT_RPS=(); GO_P99=(); GORT_P99=()
for r in $(seq "$ROUNDS"); do
    read -r rps p99 < <(bench $GO_PORT)
    printf "%-6s %-5s %12.0f %10.2f\n" "$r" go "$rps" "$p99"
    GO_RPS+=("$rps"); GO_P99+=("$p99")
    read -r rps p99 < <(bench $GORT_PORT)
    printf "%-6s %-5s %12.0f %10.2f\n" "$r" gort "$rps" "$p99"
    GORT_RPS+=("$rps"); GORT_P99+=("$p99")
done

summary() { # name, "rps..." , "p99..."
    python3 - "$@" <<'PY'
import statistics, sys
name, rps, p99 = sys.argv[1], list(map(float, sys.argv[2].split())), list(map(float, sys.argv[3].split()))
print(f"{name:5s} requests/s best {max(rps):9.0f} median {statistics.median(rps):9.0f}   "
      f"p99 best {min(p99):6.2f} ms median {statistics.median(p99):6.2f} ms")
PY
}
echo "== summary"
summary go "${GO_RPS[*]}" "${GO_P99[*]}"
summary gort "${GORT_RPS[*]}" "${GORT_P99[*]}"
python3 - "${GO_RPS[*]}" "${GORT_RPS[*]}" "${GO_P99[*]}" "${GORT_P99[*]}" <<'PY'
import statistics, sys
g, r, gp, rp = (list(map(float, a.split())) for a in sys.argv[1:5])
print(f"gort/Go requests/s: best {max(r)/max(g):.2f}, median {statistics.median(r)/statistics.median(g):.2f}"
      f"   p99 gort/Go: best {min(rp)/min(gp):.2f}, median {statistics.median(rp)/statistics.median(gp):.2f}")
PY


echo "== the same after the wrk rounds (Ms started under load stay, in Go too)"
printf "go:   "; python3 "$ROOT/benches/idle_conns.py" $GO_PORT $GO_PID "$IDLE"
printf "gort: "; python3 "$ROOT/benches/idle_conns.py" $GORT_PORT $GORT_PID "$IDLE"
