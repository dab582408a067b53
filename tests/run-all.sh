#!/bin/bash
# Every test: unit tests on the host, then the scenarios against the real md
# driver in a VM (each with Debian's C mdmon and with ours). Installs what it
# needs (run as root on Debian). Ends with "N passed, M failed".
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-tests/vm/out}
mkdir -p "$OUT"
pass=0 failn=0 failed=()
count() { # NAME RC
	if [ "$2" = 0 ]; then pass=$((pass + 1)); echo "=== $1: PASS"; else failn=$((failn + 1)); failed+=("$1"); echo "=== $1: FAIL (rc=$2)"; fi
}

# Each step's end, in seconds since the start (CI must stay under 60 min).
stamp() { echo "=== $1 done at $SECONDS s"; }

bash tests/vm/setup.sh || { echo "setup failed"; echo "0 passed, 1 failed"; exit 1; }

stamp setup
echo "=== unit tests"
# The release profile's code without LTO (Cargo.toml, profile ci-test):
# 101 s to build against 68 s here.
cargo test --profile ci-test 2>&1 | tee "$OUT/unit.log" | grep -E '^test result|FAILED|panicked'
count unit-tests "${PIPESTATUS[0]}"

echo "=== fuzz smoke (every fuzz target over fuzz/corpus, without AFL)"
bash fuzz/run.sh --smoke
count fuzz-smoke $?

echo "=== static build"
cargo build --release --target x86_64-unknown-linux-musl --bins --examples
rc=$?
count static-build $rc
stamp "unit tests, fuzz smoke, static build"
if [ $rc = 0 ]; then
	bin=target/x86_64-unknown-linux-musl/release/mdmon
	file "$bin" | grep -q 'static' && echo "static binary: $(stat -c %s "$bin") bytes"
fi

# VM scenarios: one boot per group; each scenario line is counted.
vmgroup() { # NAME GUEST_SCRIPT [ARGS...]
	local name=$1 rc t0=$SECONDS
	shift
	echo "=== VM group $name"
	VM_QUIET=1 tests/vm/vm.sh -t "${VM_TIMEOUT:-1500}" "$OUT/$name" "$@"
	rc=$?
	echo "=== VM group $name took $((SECONDS - t0)) s"
	# Scenario lines, and for a failure its reason and the kernel log tail.
	grep -E '^(ok|FAIL) |: FAIL: |^  dmesg: ' "$OUT/$name/console.log" || true
	local p f
	p=$(grep -cE '^ok ' "$OUT/$name/console.log")
	f=$(grep -cE '^FAIL ' "$OUT/$name/console.log")
	pass=$((pass + p)); failn=$((failn + f))
	[ "$f" -gt 0 ] && failed+=("$name")
	if [ $rc != 0 ] && [ "$f" = 0 ]; then
		failn=$((failn + 1)); failed+=("$name(rc=$rc)")
		tail -n 40 "$OUT/$name/console.log"
	fi
}

vmgroup foundation tests/vm/scenarios/foundation.sh
vmgroup rebuild tests/vm/scenarios/rebuild.sh
vmgroup protocol tests/vm/scenarios/protocol.sh
vmgroup takeover tests/vm/scenarios/takeover.sh
vmgroup ddf tests/vm/scenarios/ddf.sh
vmgroup badblocks tests/vm/scenarios/badblocks.sh
# 4K-native disks, ours alone in CI (the comparison with the C mdmon's
# --examine runs in tests/matrix.sh).
vmgroup sect4k tests/vm/scenarios/sect4k.sh IMPLS=rs
VM_SYSTEMD=1 vmgroup systemd tests/vm/scenarios/systemd.sh
# Fault injection, reduced to fit CI (ours alone, 5 kills per loop); the
# full group (both mdmons, 20 kills) runs apart: see README, Reliability.
vmgroup faults tests/vm/scenarios/faults.sh IMPLS=rs KILLS=5
# Reshapes stopped or with mdmon killed mid-way, resumed after a new
# assembly, and RAID0->RAID5 (ours alone in CI; both in tests/matrix.sh).
vmgroup reshape tests/vm/scenarios/reshape.sh IMPLS=rs
# Disks named by their real serial numbers (virtio-scsi disks with serials).
VM_QEMU_ARGS=$(bash tests/vm/serial-disks.sh "$OUT/serial-disks") vmgroup serial tests/vm/scenarios/serial.sh
# Kernel 6.12 (Debian's bookworm-backports): the rebuild group again, ours
# alone (the C mdmon's run there, and the full matrix, is tests/matrix.sh).
VM_KSERIES=6.12 vmgroup rebuild-6.12 tests/vm/scenarios/rebuild.sh IMPLS=rs
# Upstream mdadm 4.4's own tests, a quick subset, with its C mdmon and ours.
echo "=== upstream mdadm suite (quick subset)"
bash tests/upstream-suite.sh --quick --out "$OUT/upstream" > "$OUT/upstream.log" 2>&1
rc=$?
sed -n '/^upstream test/,$p' "$OUT/upstream.log"
count upstream-quick $rc
stamp "upstream subset"
# Full boots from an IMSM RAID1 root (mkinitramfs with our hook). The
# package's life cycle (install, mdadm reinstalled, purge, boots from the
# images each step leaves, a Debian root under systemd) runs apart:
# tests/package-test.sh.
echo "=== boot"
bash tests/vm/boot.sh "$OUT/boot" > "$OUT/boot.log" 2>&1
rc=$?
grep -E '^(ok|FAIL) |boot rebuild' "$OUT/boot.log"
p=$(grep -cE '^ok ' "$OUT/boot.log"); f=$(grep -cE '^FAIL ' "$OUT/boot.log")
pass=$((pass + p)); failn=$((failn + f))
[ "$f" -gt 0 ] && failed+=(boot)
if [ $rc != 0 ] && [ "$f" = 0 ]; then failn=$((failn + 1)); failed+=("boot(rc=$rc)"); tail -n 40 "$OUT/boot.log"; fi

stamp boot

grep -E '^  redone ' "$OUT/rebuild/console.log" || true
grep -E '^  hostile ' "$OUT/protocol/console.log" || true
grep -E 'write-pending during the takeovers' "$OUT/takeover/console.log" || true

echo "${pass} passed, ${failn} failed${failed:+ (${failed[*]})}"
[ "$failn" = 0 ]
