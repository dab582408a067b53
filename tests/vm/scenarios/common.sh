#!/bin/bash
# Shared by the scenario groups: choosing the implementation under test,
# checks on the running mdmon, normalised --examine, scenario bookkeeping.
. "$VM_REPO/tests/vm/lib.sh"
shopt -s extglob
RS_BIN=$VM_REPO/target/x86_64-unknown-linux-musl/release/mdmon
C_BIN=/run/mdmon.c
IMPLS=${IMPLS:-"c rs"}
OUT=${VM_OUT:-/tmp}/results
mkdir -p "$OUT"
[ -e "$C_BIN" ] || cp /usr/sbin/mdmon "$C_BIN"
[ -x "$RS_BIN" ] || { echo "missing $RS_BIN (cargo build --release --target x86_64-unknown-linux-musl)"; exit 1; }

PASSED=0
FAILED=0
FAILED_NAMES=()

use_impl() {
	case $1 in
	c) cp "$C_BIN" /usr/sbin/mdmon ;;
	rs) cp "$RS_BIN" /usr/sbin/mdmon ;;
	esac
	IMPL=$1
}

# The mdmon serving container $1 must be running and be the implementation under test.
check_mdmon() {
	local pid
	wait_for "/run/mdadm/$1.pid" '[0-9]*' 10 || fail "no pid file for $1"
	pid=$(mdmon_pid "$1")
	kill -0 "$pid" 2>/dev/null || fail "mdmon pid $pid for $1 not running"
	if [ "$IMPL" = rs ]; then
		cmp -s "/proc/$pid/exe" "$RS_BIN" || fail "mdmon for $1 is not ours"
	else
		cmp -s "/proc/$pid/exe" "$C_BIN" || fail "mdmon for $1 is not the C one"
	fi
	[ -S "/run/mdadm/$1.sock" ] || fail "no socket for $1"
}

# A 2-disk RAID1 volume served by the current mdmon, with a 50 ms safe-mode
# delay, written once and back to clean. Sets DISKS, VOL, CTR.
raid1_clean_fast() {
	DISKS=$(mkdisks 2 64)
	VOL=$(imsm_create vol0 1 2 $DISKS)
	CTR=$(md_name /dev/md/imsm0)
	check_mdmon "$CTR"
	echo 0.05 > "/sys/block/$VOL/md/safe_mode_delay"
	dd if=/dev/zero of="/dev/$VOL" bs=4k count=1 oflag=direct status=none
	wait_for "/sys/block/$VOL/md/array_state" clean 30 || fail "not clean"
}

# raid5_with_data NDISKS: a RAID5 volume over the first 3 of NDISKS new
# 64 MiB disks, served by the mdmon under test, holding 32 MiB of random
# data (kept in /tmp/data); the other disks join the container as spares.
# Sets DISKS, D0 (the first disk), VOL, CTR.
raid5_with_data() {
	DISKS=$(mkdisks "$1" 64)
	D0=$(echo "$DISKS" | head -n1)
	VOL=$(imsm_create vol0 5 3 $(echo "$DISKS" | head -n3))
	CTR=$(md_name /dev/md/imsm0)
	check_mdmon "$CTR"
	dd if=/dev/urandom of=/tmp/data bs=1M count=32 status=none
	run dd if=/tmp/data of="/dev/$VOL" bs=1M oflag=direct status=none
	if [ "$1" -gt 3 ]; then run mdadm --add /dev/md/imsm0 $(echo "$DISKS" | tail -n +4); fi
}

# reassemble DISK...: container imsm0 assembled again from DISKs and its
# volumes started; checks its mdmon and sets CTR and VOL (volume 0).
reassemble() {
	run mdadm -A /dev/md/imsm0 "$@"
	run mdadm -I /dev/md/imsm0
	sleep 2
	CTR=$(md_name /dev/md/imsm0)
	check_mdmon "$CTR"
	VOL=$(volume_of "$CTR")
	[ -n "$VOL" ] || fail "volume not assembled again"
}

# examine_norm DEV: mdadm --examine without the fields that differ run to run
examine_norm() {
	mdadm --examine "$1" 2>&1 | grep -vE '^ *(Orig Family|Family|Generation|Checksum|UUID|Creation Time|/dev/)' \
		| sed -E 's#/dev/loop[0-9]+#LOOP#g'
}

# volume_of CTR: the md device of volume 0 of container CTR (after a new assembly
# it can have another name, e.g. /dev/md/vol0_0).
volume_of() { local f d; for f in /sys/block/md*/md/metadata_version; do read_file "$f"; [ "$REPLY" = "external:/$1/0" ] && { d=${f%/md/metadata_version}; echo "${d##*/}"; }; done; }

BENCH=$VM_REPO/target/x86_64-unknown-linux-musl/release/examples/wp_latency
# measure_wp VOL [ROUNDS]: wp_latency's summary line (median_us=N ...) over
# ROUNDS (default 30) writes; fails, with what went wrong on stdout, unless it
# measured.
measure_wp() {
	local out rc
	out=$("$BENCH" "/dev/$1" "${2:-30}" 2>&1)
	rc=$?
	local last=${out##*$'\n'}
	if [ $rc != 0 ] || [[ ! $last =~ ^median_us=[0-9]+\  ]]; then
		echo "wp_latency rc=$rc: $(echo "$out" | tail -n 3 | tr '\n' ' ')"
		return 1
	fi
	echo "$last"
}

# examine_field DEV FIELD: the value of the first "FIELD : value" line of
# mdadm --examine DEV (e.g. 'Migrate State', Checkpoint, Members).
examine_field() { mdadm --examine "$1" | awk -F' : ' -v k="$2" '$1 ~ "^ *"k" *$" {print $2; exit}'; }
dirty_state() { examine_field "$1" 'Dirty State'; }

run_scenario() { # NAME FUNCTION ARGS...
	local name=$1
	shift
	[ -n "${ONLY:-}" ] && [ "$ONLY" != "$name" ] && return 0
	local t0=${EPOCHREALTIME/./}
	( TEST_NAME="$name[$IMPL]"; "$@" )
	local rc=$?
	cleanup_md
	local us=$((${EPOCHREALTIME/./} - t0))
	local dt=$((us / 1000000)).$((us / 100000 % 10))
	if [ $rc = 0 ]; then
		PASSED=$((PASSED + 1))
		printf 'ok   %-28s %-3s (%ss)\n' "$name" "$IMPL" "$dt"
	else
		FAILED=$((FAILED + 1))
		FAILED_NAMES+=("$name[$IMPL]")
		printf 'FAIL %-28s %-3s (%ss)\n' "$name" "$IMPL" "$dt"
		dmesg | tail -n 30 | sed 's/^/  dmesg: /'
	fi
	dmesg -C
}

# What both implementations left on disk must match.
compare_results() {
	[[ $IMPLS == *c* && $IMPLS == *rs* ]] || return 0
	local f g name
	for f in "$OUT"/c.*.examine; do
		[ -e "$f" ] || continue
		g=$OUT/rs.${f##*/c.}
		name=compare-${f##*/c.}
		if diff -u "$f" "$g" > "$OUT/$name.diff"; then
			PASSED=$((PASSED + 1)); printf 'ok   %-28s\n' "$name"
		else
			FAILED=$((FAILED + 1)); FAILED_NAMES+=("$name"); printf 'FAIL %-28s\n' "$name"
			sed 's/^/  /' "$OUT/$name.diff"
		fi
	done
}

finish() { # GROUP
	[ ${#FAILED_NAMES[@]} -gt 0 ] && echo "failed: ${FAILED_NAMES[*]}"
	echo "$1: $PASSED passed, $FAILED failed"
	[ "$FAILED" = 0 ]
}
