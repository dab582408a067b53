#!/bin/bash
# Fuzz every target with AFL++ for MINUTES each (default 10), JOBS at a time
# (default 1; the machine is shared), and print executions and crashes per
# target. Findings stay in fuzz/out/<target>/ (not committed).
#   fuzz/run.sh [MINUTES] [TARGET...]
#   fuzz/run.sh --smoke     every target over fuzz/corpus/ without AFL (CI)
# Needs `cargo install cargo-afl` (not for --smoke).
set -euo pipefail
cd "$(dirname "$0")"
TARGETS_ALL="imsm_disks ddf_disks imsm_update ddf_update proto mdstat sysfs"

if [ "${1:-}" = "--smoke" ]; then
    cargo build --release --quiet --bins
    rc=0
    for t in $TARGETS_ALL; do
        if out=$(./target/release/$t corpus/$t 2>&1); then
            echo "ok $t: $out"
        else
            echo "FAIL $t: $(echo "$out" | tail -5)"; rc=1
        fi
    done
    exit $rc
fi

MIN=${1:-10}
shift || true
TARGETS=${*:-$TARGETS_ALL}
JOBS=${JOBS:-1}
export AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_UI=1 AFL_NO_AFFINITY=1
CARGO_TARGET_DIR=target/afl cargo afl build --release --quiet --features afl --bins
mkdir -p out

fuzz_one() {
    local t=$1
    rm -rf "out/$t"
    nice cargo afl fuzz -i "corpus/$t" -o "out/$t" -V $((MIN * 60)) "target/afl/release/$t" >"out/$t.log" 2>&1 || true
}

running=0
for t in $TARGETS; do
    fuzz_one "$t" &
    running=$((running + 1))
    if [ "$running" -ge "$JOBS" ]; then wait -n || true; running=$((running - 1)); fi
done
wait

rc=0
printf '%-12s %12s %10s %8s %8s\n' target executions seconds crashes hangs
for t in $TARGETS; do
    s=out/$t/default/fuzzer_stats
    if [ ! -f "$s" ]; then echo "$t: no stats (see fuzz/out/$t.log)"; rc=1; continue; fi
    get() { awk -F' *: *' -v k="$1" '$1 == k { print $2 }' "$s"; }
    printf '%-12s %12s %10s %8s %8s\n' "$t" "$(get execs_done)" "$(get run_time)" "$(get saved_crashes)" "$(get saved_hangs)"
    [ "$(get saved_crashes)" = 0 ] || rc=1
done
exit $rc
