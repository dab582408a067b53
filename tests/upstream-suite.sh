#!/bin/bash
# Upstream mdadm's own tests for external metadata (09imsm-*, 10ddf-*,
# 11spare-migration, 12imsm-* ... 18imsm-*), run in the VM with upstream
# mdadm (built from source by tests/vm/setup-stacks.sh), once with
# upstream's C mdmon and once with ours. Prints a side-by-side table and
# ends with "N passed, M failed", where a failure is a test that passes
# with the C mdmon and not with ours.
#
# usage: tests/upstream-suite.sh [--kernel 6.1|6.12] [--tests LIST] [--quick]
#        [--jobs N] [--out DIR]
#   --tests LIST  comma- or space-separated test names (default: all of the above)
#   --quick       a fast subset for CI, run with OUR mdmon only: its tests are
#                 ones the README's table records passing with the C mdmon,
#                 so any result but "succeeded" with ours is a failure
#   --impls LIST  mdmons to run with (default "c rs")
#   --jobs N      VMs at once, each running a share of the tests (default 1);
#                 VMSLOT=tests/vm/vmslot.sh (a wrapper command) is put before each
# Run as root on Debian 12 (installs what it needs).
set -uo pipefail
cd "$(dirname "$0")/.."
KSERIES=6.1 LIST= QUICK= JOBS=1 OUT= IMPLS="c rs"
# --quick (CI): tests that pass with both mdmons in the README's table, run
# with ours only; the fastest four (ours 2 to 3.5 min each under TCG) keep
# the subset near 12 minutes and CI under an hour.
QUICK_TESTS="10ddf-fail-spare 10ddf-geometry 10ddf-fail-readd 10ddf-sudden-degraded"
while [ $# -gt 0 ]; do
	case $1 in
	--kernel) KSERIES=$2; shift ;;
	--tests) LIST=${2//,/ }; shift ;;
	--quick) QUICK=1 ;;
	--jobs) JOBS=$2; shift ;;
	--impls) IMPLS=$2; shift ;;
	--out) OUT=$2; shift ;;
	*) sed -n '2,15p' "$0" >&2; exit 2 ;;
	esac
	shift
done
OUT=${OUT:-tests/vm/out/upstream-$KSERIES}
bash tests/vm/setup.sh >/dev/null || { echo "setup failed"; exit 1; }
bash tests/vm/setup-stacks.sh kernel mdadm || { echo "setup-stacks failed"; exit 1; }
SRC=$(cd tests/vm/cache/mdadm-4.4 && pwd)
cargo build --release --target x86_64-unknown-linux-musl --bin mdmon -q || exit 1

if [ -n "$QUICK" ]; then
	LIST=$QUICK_TESTS IMPLS=rs
elif [ -z "$LIST" ]; then
	LIST=$(cd "$SRC/tests" && ls | grep -E '^(09imsm-|10ddf-|11spare-migration|1[2-8]imsm-)' | grep -vE '\.|~$' | tr '\n' ' ')
fi
# shellcheck disable=SC2206
tests=($LIST)
# shellcheck disable=SC2206
impls=($IMPLS)
[ ${#tests[@]} -gt 0 ] || { echo "no tests"; exit 2; }
[ "$JOBS" -gt ${#tests[@]} ] && JOBS=${#tests[@]}
SLOT=()
[ -n "${VMSLOT:-}" ] && SLOT=("$VMSLOT")
rm -rf "$OUT"
mkdir -p "$OUT"
start=$(date +%s)
pids=()
for ((j = 0; j < JOBS; j++)); do
	share=()
	for ((i = j; i < ${#tests[@]}; i += JOBS)); do share+=("${tests[i]}"); done
	# Each test and mdmon: 3 to 7 minutes under TCG on a shared machine;
	# the guest stops a test after TEST_TIMEOUT (600 s).
	to=$((300 + ${#share[@]} * ${#impls[@]} * 600))
	VM_KSERIES=$KSERIES VM_QUIET=1 "${SLOT[@]}" tests/vm/vm.sh -m 3072 -t "$to" "$OUT/vm$j" \
		tests/vm/scenarios/upstream.sh MDADM_SRC="$SRC" TESTS="${share[*]}" IMPLS="$IMPLS" > "$OUT/vm$j.log" 2>&1 &
	pids+=($!)
done
vmfail=0
for p in "${pids[@]}"; do wait "$p" || vmfail=$((vmfail + 1)); done
cat "$OUT"/vm*/results.txt > "$OUT/results.txt" 2>/dev/null

res() { awk -v t="$1" -v i="$2" '$1 == t && $2 == i {print $3 " (" $4 "s)"}' "$OUT/results.txt"; }
pass=0 failn=0 bad=()
printf '%-45s %-22s %-22s\n' "upstream test (kernel $KSERIES, mdadm 4.4)" "C mdmon" "ours"
for t in "${tests[@]}"; do
	c=$(res "$t" c) r=$(res "$t" rs)
	# Without the C mdmon in this run (--quick, --impls rs), C counts as
	# passing: --quick's tests pass with it in the README's table.
	[[ " $IMPLS " != *" c "* ]] && c="succeeded (not run)"
	printf '%-45s %-22s %-22s\n' "$t" "${c:-not run}" "${r:-not run}"
	# A test counts against us when it passes with C and not with ours.
	if [[ $c == succeeded* ]] && [[ $r != succeeded* ]]; then
		failn=$((failn + 1)); bad+=("$t")
	elif [ -n "$r" ]; then
		pass=$((pass + 1))
	else
		failn=$((failn + 1)); bad+=("$t(not run)")
	fi
done
awk '$5 != "" {$4 = $4 "s"; print "  " $0}' "$OUT/results.txt"
[ "$vmfail" -gt 0 ] && echo "$vmfail VM(s) ended abnormally: see $OUT/vm*.log and $OUT/vm*/console.log"
echo "upstream suite: $(( ($(date +%s) - start) / 60 )) min"
echo "${pass} passed, ${failn} failed${bad:+ (${bad[*]})}"
[ "$failn" = 0 ] && [ "$vmfail" = 0 ]
