#!/bin/bash
# The full test matrix: the VM scenario groups on kernel 6.1 (Debian 12)
# and 6.12 (bookworm-backports), with Debian 12's mdadm 4.2, each with the
# C mdmon and ours; then upstream mdadm 4.4's own test suite (built from
# Debian 13's source) with its C mdmon and ours, on both kernels. Several
# hours under TCG; CI runs a part of it (tests/run-all.sh).
# usage: tests/matrix.sh [--kernels "6.1 6.12"] [--groups "foundation rebuild protocol takeover ddf badblocks sect4k faults reshape serial"]
#        [--no-upstream]
# Env: VMSLOT=tests/vm/vmslot.sh (a wrapper put before every VM command).
# Ends with "N passed, M failed".
set -uo pipefail
cd "$(dirname "$0")/.."
KERNELS="6.1 6.12" GROUPS_="foundation rebuild protocol takeover ddf badblocks sect4k faults reshape serial" UPSTREAM=1
while [ $# -gt 0 ]; do
	case $1 in
	--kernels) KERNELS=$2; shift ;;
	--groups) GROUPS_=$2; shift ;;
	--no-upstream) UPSTREAM= ;;
	*) sed -n '2,10p' "$0" >&2; exit 2 ;;
	esac
	shift
done
OUT=${OUT:-tests/vm/out/matrix}
mkdir -p "$OUT"
bash tests/vm/setup.sh >/dev/null || { echo "setup failed"; exit 1; }
cargo build --release --target x86_64-unknown-linux-musl --bins --examples -q || exit 1
SLOT=()
[ -n "${VMSLOT:-}" ] && SLOT=("$VMSLOT")
pass=0 failn=0 failed=()
for k in $KERNELS; do
	for g in $GROUPS_; do
		t0=$(date +%s)
		# The serial group's disks are virtio-scsi disks with serial numbers.
		qargs=
		[ "$g" = serial ] && qargs=$(bash tests/vm/serial-disks.sh "$OUT/serial-disks-$k")
		VM_QEMU_ARGS=$qargs VM_KSERIES=$k VM_QUIET=1 "${SLOT[@]}" tests/vm/vm.sh -t 2400 "$OUT/$g-$k" "tests/vm/scenarios/$g.sh"
		rc=$?
		p=$(grep -cE '^ok ' "$OUT/$g-$k/console.log")
		f=$(grep -cE '^FAIL ' "$OUT/$g-$k/console.log")
		echo "=== $g on $k: $p ok, $f FAIL (rc=$rc, $((($(date +%s) - t0) / 60)) min)"
		grep -E '^FAIL ' "$OUT/$g-$k/console.log"
		pass=$((pass + p)); failn=$((failn + f))
		[ "$f" -gt 0 ] && failed+=("$g-$k")
		if [ "$rc" != 0 ] && [ "$f" = 0 ]; then failn=$((failn + 1)); failed+=("$g-$k(rc=$rc)"); fi
	done
	if [ -n "$UPSTREAM" ]; then
		t0=$(date +%s)
		bash tests/upstream-suite.sh --kernel "$k" --out "$OUT/upstream-$k" > "$OUT/upstream-$k.log" 2>&1
		rc=$?
		sed -n '/^upstream test/,$p' "$OUT/upstream-$k.log"
		echo "=== upstream suite on $k: rc=$rc, $((($(date +%s) - t0) / 60)) min"
		if [ "$rc" = 0 ]; then pass=$((pass + 1)); else failn=$((failn + 1)); failed+=("upstream-$k"); fi
	fi
done
echo "${pass} passed, ${failn} failed${failed:+ (${failed[*]})}"
[ "$failn" = 0 ]
