#!/usr/bin/env bash
# Runs the Go baselines (benches/go/{spawn,parked,sleepers}) and their gort
# mirrors (benches/drivers/bench_{spawn,parked,sleepers}.rs, built as the
# examples bench_spawn etc.) alternately with GOMAXPROCS=2, and prints the best
# line of each side by side with the ratio gort/Go (below 1: gort is faster, or
# smaller for parked). Then the channel benchmarks: the Go programs
# benches/go/{chanpingpong,threadring,prodcons} against
# benches/drivers/bench_chan.rs, which runs all three and prints the same
# `name: X ms` lines. Last, allocation: benches/go/alloc against
# alloc/benches/drivers/bench_alloc.rs (gort-alloc and malloc).
#
# Each round runs the Go program, then the gort one; a timing program runs
# REPS reps in-process and reports its best, and the best over ROUNDS rounds is
# kept. parked prints one figure per process; the smallest is kept.
#
# Usage: benches/compare.sh            (about a minute)
# Env:   GO (default ~/.gov/bin/go), ROUNDS (3), REPS (3), CARGO_TARGET_DIR.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
GO=${GO:-$HOME/.gov/bin/go}
ROUNDS=${ROUNDS:-3}
REPS=${REPS:-3}
export GOMAXPROCS=2 GOTOOLCHAIN=local GOPROXY=off

if [[ ! -x $GO ]]; then
    echo "compare.sh: no go at $GO (set GO=...)" >&2
    exit 1
fi

echo "== building (cargo --release, go build)" >&2
BUILD_LOG=$(mktemp)
GO_BIN=$(mktemp -d)
trap 'rm -rf "$GO_BIN" "$BUILD_LOG"' EXIT
if ! (cd "$ROOT" && cargo build --release \
    --example bench_spawn --example bench_parked --example bench_sleepers \
    --example bench_chan) \
    >"$BUILD_LOG" 2>&1; then
    cat "$BUILD_LOG" >&2
    exit 1
fi
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
case $TARGET in /*) ;; *) TARGET=$ROOT/$TARGET ;; esac
GORT_BIN=$TARGET/release/examples

if ! (cd "$ROOT" && cargo build --release -p gort-alloc --example bench_alloc) >"$BUILD_LOG" 2>&1; then
    cat "$BUILD_LOG" >&2
    exit 1
fi

for b in spawn parked sleepers chanpingpong threadring prodcons alloc; do
    (cd "$ROOT/benches/go/$b" && "$GO" build -o "$GO_BIN/$b" .)
done

# field LINE KEY: the number after "KEY=" in LINE, units stripped.
field() {
    sed -E "s/.*[ ]$2=([0-9.]+).*/\1/" <<<"$1"
}

# better KEY A B: whichever of lines A and B has the smaller KEY (A if B is empty).
better() {
    if [[ -z $3 ]] || awk -v a="$(field "$2" "$1")" -v b="$(field "$3" "$1")" \
        'BEGIN { exit !(a <= b) }'; then
        printf '%s\n' "$2"
    else
        printf '%s\n' "$3"
    fi
}

# bench NAME KEY ARGS...: ROUNDS alternating runs; prints the two best lines and
# the ratio of KEY.
bench() {
    local name=$1 key=$2
    shift 2
    local go_best="" gort_best="" line
    echo "== $name: $ROUNDS rounds, go then gort" >&2
    for ((r = 1; r <= ROUNDS; r++)); do
        line=$("$GO_BIN/$name" "$@" | tail -n 1)
        echo "   $line" >&2
        go_best=$(better "$key" "$line" "$go_best")
        line=$("$GORT_BIN/bench_$name" "$@" | tail -n 1)
        echo "   $line" >&2
        gort_best=$(better "$key" "$line" "$gort_best")
    done
    local ratio
    ratio=$(awk -v g="$(field "$gort_best" "$key")" -v o="$(field "$go_best" "$key")" \
        'BEGIN { printf "%.2f", g / o }')
    RESULTS+=("$(printf '%-68s | %-70s | gort/Go %s %s' \
        "$go_best" "$gort_best" "$key" "$ratio")")
}

RESULTS=()
bench spawn per_goroutine -reps "$REPS"
bench parked per_goroutine
bench sleepers cpu -reps "$REPS"

# The channel benchmarks: every round runs the three Go programs, then
# bench_chan (all three in one process); the smallest `name: X ms` of each side
# over every round and rep is kept.
declare -A GO_MS GORT_MS
min_into() { # min_into ARRAY NAME VALUE
    local -n arr=$1
    if [[ -z ${arr[$2]:-} ]] || awk -v a="$3" -v b="${arr[$2]}" 'BEGIN { exit !(a < b) }'; then
        arr[$2]=$3
    fi
}
CHAN_BENCHES=(chanpingpong threadring prodcons)
echo "== channels: $ROUNDS rounds, go then gort" >&2
for ((r = 1; r <= ROUNDS; r++)); do
    for b in "${CHAN_BENCHES[@]}"; do
        while read -r name value _; do
            echo "   go $name $value ms" >&2
            min_into GO_MS "${name%:}" "$value"
        done < <("$GO_BIN/$b" -reps "$REPS" 2>/dev/null)
    done
    while read -r name value _; do
        echo "   gort $name $value ms" >&2
        min_into GORT_MS "${name%:}" "$value"
    done < <("$GORT_BIN/bench_chan" -reps "$REPS" 2>/dev/null)
done
for b in "${CHAN_BENCHES[@]}"; do
    RESULTS+=("$(printf '%-14s go %9.1f ms | gort %9.1f ms | gort/Go %s' "$b" \
        "${GO_MS[$b]}" "${GORT_MS[$b]}" \
        "$(awk -v g="${GORT_MS[$b]}" -v o="${GO_MS[$b]}" 'BEGIN { printf "%.2f", g / o }')")")
done

# Allocation: benches/go/alloc (GOGC=off) against
# alloc/benches/drivers/bench_alloc.rs, which also runs glibc malloc. Each program keeps its best batch of 200; over the rounds
# the smallest one-thread ns/op and the largest two-thread Mops/s are kept.
declare -A AL1 AL2
echo "== alloc: $ROUNDS rounds, go then gort+malloc" >&2
for ((r = 1; r <= ROUNDS; r++)); do
    while read -r who _ _ threads rest; do
        echo "   $who $threads $rest" >&2
        if [[ $threads == one-thread ]]; then
            v=$(sed -E 's/.*ns\/op=([0-9.]+).*/\1/' <<<"$rest")
            if [[ -z ${AL1[$who]:-} ]] || awk -v a="$v" -v b="${AL1[$who]}" 'BEGIN { exit !(a < b) }'; then AL1[$who]=$v; fi
        else
            v=$(sed -E 's/.*Mops\/s=([0-9.]+).*/\1/' <<<"$rest")
            if [[ -z ${AL2[$who]:-} ]] || awk -v a="$v" -v b="${AL2[$who]}" 'BEGIN { exit !(a > b) }'; then AL2[$who]=$v; fi
        fi
    done < <(GOGC=off "$GO_BIN/alloc"; "$GORT_BIN/bench_alloc")
done
for who in go gort malloc; do
    RESULTS+=("$(printf 'alloc mixed16-512 %-6s one thread %6.2f ns/op (%5.1f Mops/s) | two threads %6.1f Mops/s (%.2fx)' \
        "$who" "${AL1[$who]}" "$(awk -v a="${AL1[$who]}" 'BEGIN { printf "%.1f", 1000 / a }')" "${AL2[$who]}" \
        "$(awk -v a="${AL1[$who]}" -v b="${AL2[$who]}" 'BEGIN { printf "%.2f", b * a / 1000 }')")")
done
RESULTS+=("$(awk -v g="${AL1[gort]}" -v o="${AL1[go]}" 'BEGIN { printf "alloc one thread: gort/Go throughput %.2fx (target >= 1.0)", o / g }')")

echo
echo "GOMAXPROCS=2, best of $ROUNDS rounds x $REPS reps (parked: smallest of $ROUNDS)"
printf '%s\n' "${RESULTS[@]}"
