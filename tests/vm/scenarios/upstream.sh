#!/bin/bash
# Guest side of tests/upstream-suite.sh: upstream mdadm's own tests (the
# tests/ of the mdadm source built by tests/vm/setup-stacks.sh), each run
# once per mdmon. Arguments (VAR=value):
#   MDADM_SRC  the built mdadm source tree (mdadm, mdmon, test, tests/)
#   TESTS      space-separated test names
#   IMPLS      mdmons to run with (default "c rs": upstream's C one built
#              from MDADM_SRC, and ours)
#   TEST_TIMEOUT  seconds per test (default 600)
#   EXTRA_TESTS   a directory of further test files (e.g. a traced copy of
#              an upstream test, kept outside this repository), copied
#              beside upstream's; MDMON_IMPL (c or rs) is exported to them
# Writes one line per test and mdmon to /out/results.txt:
#   NAME IMPL RESULT SECONDS [NOTE]
# RESULT: succeeded, FAILED, skipped, broken (skipped by
# --skip-always-broken), could-not-start, timeout, left-running (it passed
# or failed, but arrays or an mdmon were still there after the runner's own
# cleanup), wrong-mdmon (an mdmon other than the one under test ran).
for a in "$@"; do export "${a?}"; done
set -u
: "${IMPLS:=c rs}" "${TEST_TIMEOUT:=600}"
RS_BIN=$VM_REPO/target/x86_64-unknown-linux-musl/release/mdmon
RES=/out/results.txt
LOGS=/out/logs
mkdir -p "$LOGS"
: > "$RES"
[ -x "$MDADM_SRC/mdadm" ] && [ -x "$MDADM_SRC/mdmon" ] || { echo "no built mdadm in $MDADM_SRC"; exit 1; }
[ -x "$RS_BIN" ] || { echo "missing $RS_BIN"; exit 1; }

# Upstream's runner uses the mdadm first in PATH, and mdadm starts the
# mdmon beside its own binary before BINDIR's (/sbin). Each mdmon gets a
# directory with a copy of the same mdadm beside it; /usr/sbin (= /sbin)
# gets the same pair so that nothing can start another one (udev's
# rules, a path lookup). All of it lives in the guest's tmpfs overlay.
VARIANTS=/usr/local/lib/mdmon-matrix
for impl in c rs; do
	mkdir -p "$VARIANTS/$impl"
	cp "$MDADM_SRC/mdadm" "$VARIANTS/$impl/mdadm"
done
cp "$MDADM_SRC/mdmon" "$VARIANTS/c/mdmon"
cp "$RS_BIN" "$VARIANTS/rs/mdmon"

# The suite's own copy in the guest: its get_rootdev wants the disk under
# the root filesystem, as a source of data to copy into arrays; the guest's
# root is a 9p share under an overlay, with no disk. A RAM disk of random
# data stands in for it.
WORK=/var/lib/mdmon-matrix/mdadm
mkdir -p "$WORK"
cp -a "$MDADM_SRC/test" "$MDADM_SRC/tests" "$WORK/"
[ -n "${EXTRA_TESTS:-}" ] && cp "$EXTRA_TESTS"/* "$WORK/tests/"
modprobe brd rd_nr=1 rd_size=131072 max_part=0 || { echo "no brd"; exit 1; }
dd if=/dev/urandom of=/dev/ram0 bs=1M count=128 status=none
sed -i 's|^get_rootdev() {|get_rootdev() {\n    [ -n "${MDTEST_ROOTDEV:-}" ] \&\& { echo "$MDTEST_ROOTDEV"; return 0; }|' "$WORK/tests/env-ddf-template"
export MDTEST_ROOTDEV=/dev/ram0

# The suite uses /dev/loop0 ... loop13 by name.
for i in $(seq 0 15); do [ -e /dev/loop$i ] || mknod /dev/loop$i b 7 "$i"; done

# udev, with upstream's rules for this mdadm (over Debian's of the same name).
mkdir -p /etc/udev/rules.d
for r in 01-md-raid-creating 63-md-raid-arrays 64-md-raid-assembly 69-md-clustered-confirm-device; do
	sed -e 's,BINDIR,/usr/sbin,g' "$MDADM_SRC/udev-${r#??-}.rules" > "/etc/udev/rules.d/$r.rules"
done
# What the suite puts in systemd's environment for the mdadm udev runs
# (no systemd here): as device properties, which udev passes to programs.
printf '%s\n' 'ENV{IMSM_NO_PLATFORM}="1", ENV{IMSM_DEVNAME_AS_SERIAL}="1", ENV{MDADM_NO_SYSTEMCTL}="1"' \
	> /etc/udev/rules.d/00-mdmon-matrix-env.rules
/lib/systemd/systemd-udevd --daemon --resolve-names=never || { echo "udevd did not start"; exit 1; }
udevadm settle -t 10

use_impl() {
	cp "$VARIANTS/$1/mdadm" /usr/sbin/mdadm
	cp "$VARIANTS/$1/mdmon" /usr/sbin/mdmon
	EXPECT=$VARIANTS/$1/mdmon
}

# Every mdmon process seen while a test runs, by the binary it runs.
watch_mdmons() { # OUTFILE
	local p exe comm
	while :; do
		for p in /proc/[0-9]*; do
			# read, not cat: a fork per process made a sweep take seconds under TCG
			read -r comm < "$p/comm" 2>/dev/null || continue
			[ "$comm" = mdmon ] || continue
			exe=$(readlink "$p/exe" 2>/dev/null) || continue
			if cmp -s "$p/exe" "$EXPECT"; then
				echo "ok $exe"
			# cmp also fails when the process exits meanwhile: only one
			# still running with its binary readable is another mdmon
			elif [ -e "$p/exe" ] && ! cmp -s "$p/exe" "$EXPECT" && [ -e "$p/exe" ]; then
				echo "other $exe"
			fi
		done
		sleep 0.3
	done >> "$1"
}

leftovers() { # what is still running: md arrays and mdmon processes
	local s=
	grep -q '^md' /proc/mdstat && s="arrays: $(grep '^md' /proc/mdstat | cut -d' ' -f1 | tr '\n' ' ')"
	pgrep -x mdmon >/dev/null && s="$s mdmon: $(pgrep -x mdmon | tr '\n' ' ')"
	echo "$s"
}

force_clean() {
	local i
	for i in 1 2 3; do
		mdadm -Ss >/dev/null 2>&1
		for m in /sys/block/md*; do [ -e "$m" ] && mdadm --stop "/dev/${m##*/}" >/dev/null 2>&1; done
	done
	pkill -x mdmon 2>/dev/null
	sleep 0.5
	pkill -KILL -x mdmon 2>/dev/null
	for m in /sys/block/md*; do [ -e "$m/md/array_state" ] && echo clear > "$m/md/array_state" 2>/dev/null; done
	losetup -D
	udevadm settle -t 10
	rm -f /var/tmp/mdtest* /run/mdadm/*
}

cd "$WORK" || exit 1
for t in $TESTS; do
	for impl in $IMPLS; do
		use_impl "$impl"
		force_clean
		dmesg -C
		log=$LOGS/$t.$impl
		rm -f "$log".*
		watch_mdmons "$log.mdmons" &
		watcher=$!
		t0=$(date +%s)
		MDMON_IMPL=$impl PATH=$VARIANTS/$impl:$PATH timeout -k 10 "$TEST_TIMEOUT" \
			./test --tests="$t" --skip-always-broken --save-logs --logdir="$LOGS" > "$log.out" 2>&1
		rc=$?
		dt=$(($(date +%s) - t0))
		kill "$watcher"; wait "$watcher" 2>/dev/null
		left=$(leftovers)
		note=
		if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
			result=timeout
		elif grep -q 'without running RAIDs' "$log.out"; then
			result=could-not-start
		elif grep -q 'succeeded' "$log.out"; then
			result=succeeded
		# the runner's own "skipping" for this test: on 6.8+ kernels it
		# also prints "skipping tests for linear" before every test
		elif grep -q "tests/$t\.\.\. .*skipping" "$log.out"; then
			result=skipped; note=$(grep -o 'REASON: .*' "$LOGS/$t.log" 2>/dev/null | head -n1)
		elif grep -q 'FAILED' "$log.out"; then
			result=FAILED
		elif ! grep -q "tests/$t\.\.\." "$log.out"; then
			result=broken
		else
			result=FAILED; note="rc=$rc"
		fi
		[ -e "$LOGS/$t.log" ] && mv "$LOGS/$t.log" "$log.log"
		[ -e "$LOGS/fail$t.log" ] && mv "$LOGS/fail$t.log" "$log.fail.log"
		if grep -q '^other' "$log.mdmons" 2>/dev/null; then
			result=wrong-mdmon; note="$(grep '^other' "$log.mdmons" | sort -u | tr '\n' ' ')"
		fi
		if [ -n "$left" ] && [ "$result" != could-not-start ]; then
			note="$note after $result: $left"
			result=left-running
			{ cat /proc/mdstat; ps -eo pid,args | grep -E 'mdmon|mdadm' | grep -v grep; } > "$log.left"
		fi
		echo "$t $impl $result $dt $note" | tee -a "$RES"
	done
done
force_clean
exit 0
