#!/bin/bash
# Bad blocks on IMSM members (issue: one bad sector hung every later write
# to it). A member is a device-mapper device over a loop device with `error`
# segments in its data area; mdadm marks IMSM members external_bbl, so md
# records a failed write as an unacknowledged bad range and holds later
# writes there until mdmon has recorded and acknowledged it. Each scenario
# runs with Debian's C mdmon and with ours; what both leave (the BBM log as
# mdadm --examine-badblocks prints it, --examine) is compared.
# Arguments (VAR=value): IMPLS (default "c rs"), ONLY (one scenario).
# On Linux 6.12 run IMPLS="rs c": the C mdmon hangs bb-log-full's writer there.
for a in "$@"; do export "${a?}"; done
. "$VM_REPO/tests/vm/scenarios/common.sh"

# bad_disk NAME SIZE_MB RANGES...: a loop device of SIZE_MB under a dm device
# /dev/mapper/NAME whose sectors in each RANGE ("start+len") fail every I/O.
bad_disk() {
	local name=$1 size=$2 loop f=/tmp/disk-$1.img pos=0 table="" s l total
	shift 2
	truncate -s "${size}M" "$f"
	loop=$(losetup -f --show "$f") || fail "losetup"
	total=$((size * 2048))
	for r in "$@"; do
		s=${r%+*} l=${r#*+}
		[ "$s" -gt "$pos" ] && table+="$pos $((s - pos)) linear $loop $pos"$'\n'
		table+="$s $l error"$'\n'
		pos=$((s + l))
	done
	table+="$pos $((total - pos)) linear $loop $pos"
	printf '%s\n' "$table" | dmsetup create "$name" || fail "dmsetup create $name"
	udev_settle_dm "$name"
	echo "/dev/mapper/$name"
}
udev_settle_dm() { local i; for i in $(seq 50); do [ -b "/dev/mapper/$1" ] && return; sleep 0.1; done; dmsetup mknodes "$1"; }
# The md member name (dm-N) of a /dev/mapper device.
kname() { dmsetup info -c --noheadings -o blkdevname "${1#/dev/mapper/}"; }
dev_attr() { cat "/sys/block/$1/md/dev-$2/$3"; }
# write_at VOL SECTOR KIB: one O_DIRECT write; must finish within 60 s.
write_at() {
	timeout 60 dd if=/tmp/pattern of="/dev/$1" bs=1k count="$3" seek=$(($2 / 2)) skip=$(($2 / 2)) \
		oflag=direct conv=notrunc status=none &
	local w=$! i
	for i in $(seq 600); do kill -0 $w 2>/dev/null || break; sleep 0.1; done
	if kill -0 $w 2>/dev/null; then
		log "writer at sector $2 still blocked after 60 s: state $(cat /sys/block/$1/md/dev-*/state | tr '\n' ' ')"
		return 1
	fi
	wait $w
}
bb_of() { mdadm --examine-badblocks "$1" 2>&1 | grep -E 'for [0-9]+ sectors' | sed -E 's/^ +//' | sort -n; }
# bb_raid1 NAME RANGES...: a RAID1 volume over a good loop disk and the dm
# disk NAME whose RANGES fail (see bad_disk), served by the mdmon under
# test, and 24 MiB of random data in /tmp/pattern. Sets GOOD BAD VOL CTR BK.
bb_raid1() {
	local name=$1
	shift
	GOOD=$(mkdisks 1 64 good)
	BAD=$(bad_disk "$name" 64 "$@")
	VOL=$(IMSM_SIZE=24M imsm_create vol0 1 2 "$GOOD" "$BAD")
	CTR=$(md_name /dev/md/imsm0)
	check_mdmon "$CTR"
	BK=$(kname "$BAD")
	dd if=/dev/urandom of=/tmp/pattern bs=1M count=24 status=none
}
# check_log_is_mds VOL KNAME DEV: the BBM log holds what md lists for the member.
check_log_is_mds() {
	check_eq "$(bb_of "$3" | tr '\n' ' ')" "$(dev_attr "$1" "$2" bad_blocks | awk '{printf "%s for %s sectors ", $1, $2}')" \
		"BBM log = md's list"
}
cleanup_dm() { cleanup_md; dmsetup remove_all 2>/dev/null; losetup -D; rm -f /tmp/disk-*.img; }

# The reported case: a RAID1 member with a 64-sector error segment; two
# writes over it; then re-assembly, then the member replaced.
sc_raid1_bad_sector() {
	local good bad spare vol ctr bk
	bb_raid1 bb1 16384+64
	good=$GOOD bad=$BAD vol=$VOL ctr=$CTR bk=$BK
	spare=$(mkdisks 1 64 spare)
	[[ $(dev_attr "$vol" "$bk" state) == *external_bbl* ]] || fail "mdadm did not set external_bbl: $(dev_attr "$vol" "$bk" state)"
	write_at "$vol" 16384 64 || fail "first write over the bad range hung"
	write_at "$vol" 16384 64 || fail "second write over the bad range hung"
	write_at "$vol" 16352 64 || fail "write overlapping the bad range hung"
	check_eq "$(dev_attr "$vol" "$bk" bad_blocks)" "16384 64" "md's bad_blocks"
	check_eq "$(dev_attr "$vol" "$bk" unacknowledged_bad_blocks)" "" "unacknowledged bad blocks"
	[[ $(dev_attr "$vol" "$bk" state) == *faulty* ]] && fail "the member was failed"
	check_eq "$(cat /sys/block/$vol/md/degraded)" 0 "kernel degraded count"
	check_eq "$(bb_of "$bad")" "16384 for 64 sectors" "BBM log (--examine-badblocks)"
	echo 3 > /proc/sys/vm/drop_caches
	cmp -i $((16352 * 512)):$((16352 * 512)) -n $((96 * 512)) /tmp/pattern "/dev/$vol" \
		|| fail "data over the bad range differs"
	log "ok: data over the bad range intact"
	run mdadm --wait-clean "/dev/$vol"
	bb_of "$good" > "$OUT/$IMPL.bb-raid1-good.examine"
	examine_norm "$good" > "$OUT/$IMPL.bb-raid1.examine"
	# Re-assembled, md knows the range again (mdadm hands the log to md).
	run mdadm --stop "/dev/$vol"
	run mdadm --stop /dev/md/imsm0
	run mdadm -A /dev/md/imsm0 "$good" "$bad"
	run mdadm -I /dev/md/imsm0
	ctr=$(md_name /dev/md/imsm0)
	vol=$(volume_of "$ctr")
	[ -n "$vol" ] || fail "volume not assembled again"
	check_mdmon "$ctr"
	check_eq "$(dev_attr "$vol" "$bk" bad_blocks)" "16384 64" "md's bad_blocks after re-assembly"
	write_at "$vol" 16384 64 || fail "write over the bad range after re-assembly hung"
	check_eq "$(bb_of "$bad")" "16384 for 64 sectors" "BBM log after re-assembly"
	# Replaced: fail, remove, a spare rebuilt; the log forgets the old member.
	# (Linux 6.12 fails the member itself on that write, with either mdmon:
	# a fresh rdev sees no write error yet, so md writes into the known bad
	# range, and the retry of the failed sectors fails the device.)
	if [ -e "/sys/block/$vol/md/dev-$bk" ]; then
		run mdadm "/dev/$vol" --fail "$bad"
	else
		log "md failed $bk on the write after assembly (kernel $(uname -r))"
	fi
	for i in $(seq 100); do [ -e "/sys/block/$vol/md/dev-$bk" ] || break; sleep 0.1; done
	run mdadm /dev/md/imsm0 --remove "$bad"
	run mdadm /dev/md/imsm0 --add "$spare"
	wait_for "/sys/block/$vol/md/dev-${spare#/dev/}/slot" '[0-9]*' 20 || fail "spare not activated"
	wait_idle "/dev/$vol" 120 || fail "rebuild did not finish"
	run mdadm --wait-clean "/dev/$vol"
	check_eq "$(bb_of "$good")" "" "BBM log after the replacement"
	mdadm --examine "$good" | grep -q 'Bad Block Management Log' && fail "--examine still shows a BBM log"
	log "ok: no BBM log left"
	examine_norm "$good" > "$OUT/$IMPL.bb-replaced.examine"
}

# RAID5 with a bad range on one member: writes and reads over it.
sc_raid5_bad_range() {
	local disks bad vol ctr bk
	disks=$(mkdisks 2 64)
	bad=$(bad_disk bb5 64 8192+32)
	vol=$(IMSM_SIZE=24M imsm_create vol0 5 3 $disks "$bad")
	ctr=$(md_name /dev/md/imsm0)
	check_mdmon "$ctr"
	bk=$(kname "$bad")
	dd if=/dev/urandom of=/tmp/pattern bs=1M count=40 status=none
	run dd if=/tmp/pattern of="/dev/$vol" bs=1M count=40 oflag=direct status=none
	write_at "$vol" 16384 512 || fail "rewrite over the bad stripe hung"
	check_eq "$(dev_attr "$vol" "$bk" unacknowledged_bad_blocks)" "" "unacknowledged bad blocks"
	[ -n "$(dev_attr "$vol" "$bk" bad_blocks)" ] || fail "md recorded no bad block"
	check_log_is_mds "$vol" "$bk" "$bad"
	check_eq "$(cat /sys/block/$vol/md/degraded)" 0 "kernel degraded count"
	echo 3 > /proc/sys/vm/drop_caches
	cmp -n $((40 << 20)) /tmp/pattern "/dev/$vol" || fail "data differs"
	log "ok: data intact"
	run mdadm --wait-clean "/dev/$vol"
	bb_of "$bad" > "$OUT/$IMPL.bb-raid5.examine"
}

# More distinct bad ranges than the log holds (254): the member loses
# external_bbl, md fails it, the failure is recorded, no write hangs.
sc_log_full() {
	local good vol bk ranges=() i
	for i in $(seq 0 259); do ranges+=("$((8192 + 16 * i))+1"); done
	bb_raid1 bbf "${ranges[@]}"
	good=$GOOD vol=$VOL bk=$BK
	write_at "$vol" 8192 2560 || fail "write over 260 bad ranges hung"
	write_at "$vol" 8192 2560 || fail "second write over 260 bad ranges hung"
	for i in $(seq 100); do [ -e "/sys/block/$vol/md/dev-$bk" ] || break; sleep 0.1; done
	[ -e "/sys/block/$vol/md/dev-$bk" ] && fail "the member was not failed: $(dev_attr "$vol" "$bk" state)"
	check_eq "$(cat /sys/block/$vol/md/degraded)" 1 "kernel degraded count"
	mdadm --examine "$good" | grep -q 'Failed disk : none' && fail "no failed disk recorded"
	log "ok: failure recorded"
	echo 3 > /proc/sys/vm/drop_caches
	cmp -i $((8192 * 512)):$((8192 * 512)) -n $((2560 * 1024)) /tmp/pattern "/dev/$vol" \
		|| fail "data differs"
	log "ok: data intact"
}

# A bad range hit while a rebuild runs, and while mdmon is killed and
# started again: no write hangs, the range ends up recorded.
sc_during_rebuild_and_restart() {
	local good bad spare vol ctr bk pid
	good=$(mkdisks 1 64 good)
	spare=$(mkdisks 1 64 spare)
	bad=$(bad_disk bbr 64 20480+16)
	vol=$(IMSM_SIZE=24M imsm_create vol0 1 2 "$good" "$spare")
	ctr=$(md_name /dev/md/imsm0)
	check_mdmon "$ctr"
	dd if=/dev/urandom of=/tmp/pattern bs=1M count=24 status=none
	run dd if=/tmp/pattern of="/dev/$vol" bs=1M count=24 oflag=direct status=none
	# Replace the spare-made member by the bad disk: a rebuild onto it.
	echo 2000 > /proc/sys/dev/raid/speed_limit_max
	run mdadm "/dev/$vol" --fail "$spare"
	for i in $(seq 100); do [ -e "/sys/block/$vol/md/dev-${spare#/dev/}" ] || break; sleep 0.1; done
	run mdadm /dev/md/imsm0 --remove "$spare"
	run mdadm /dev/md/imsm0 --add "$bad"
	bk=$(kname "$bad")
	wait_for "/sys/block/$vol/md/sync_action" recover 20 || fail "no rebuild started"
	write_at "$vol" 20480 32 || fail "write over the bad range during the rebuild hung"
	# mdmon killed and restarted, a write over a second bad spot meanwhile.
	pid=$(mdmon_pid "$ctr")
	kill -9 "$pid"
	write_at "$vol" 20480 32 &
	local w=$!
	sleep 1
	run mdmon --takeover "$ctr"
	wait $w || fail "write while mdmon was restarted hung"
	check_mdmon "$ctr"
	echo 200000 > /proc/sys/dev/raid/speed_limit_max
	wait_idle "/dev/$vol" 180 || fail "rebuild did not finish"
	check_eq "$(dev_attr "$vol" "$bk" unacknowledged_bad_blocks)" "" "unacknowledged bad blocks"
	log "md's bad_blocks on the rebuilt member: '$(dev_attr "$vol" "$bk" bad_blocks | tr '\n' ' ')'"
	check_log_is_mds "$vol" "$bk" "$bad"
	echo 3 > /proc/sys/vm/drop_caches
	cmp -n $((24 << 20)) /tmp/pattern "/dev/$vol" || fail "data differs"
	log "ok: data intact"
}

# Write-pending latency while bad ranges keep arriving on a member: ours
# must answer a clean array's first write as fast as without them.
sc_latency_with_bad_ranges() {
	local vol bk ranges=() i quiet busy
	for i in $(seq 0 199); do ranges+=("$((32768 + 64 * i))+1"); done
	bb_raid1 bbl "${ranges[@]}"
	vol=$VOL bk=$BK
	echo 0.05 > "/sys/block/$vol/md/safe_mode_delay"
	dd if=/dev/zero of="/dev/$vol" bs=4k count=1 oflag=direct status=none
	wait_for "/sys/block/$vol/md/array_state" clean 30 || fail "not clean"
	quiet=$(measure_wp "$vol") || fail "quiet: no measurement ($quiet)"
	# A writer that hits a new bad sector every 0.1 s.
	( for i in $(seq 0 199); do
		dd if=/tmp/pattern of="/dev/$vol" bs=512 count=1 seek=$((32768 + 64 * i)) skip=$((32768 + 64 * i)) \
			oflag=direct conv=notrunc status=none
		sleep 0.1
	done ) &
	local writer=$!
	sleep 1
	busy=$(measure_wp "$vol") || { kill $writer; fail "with bad ranges: no measurement ($busy)"; }
	local n=$(wc -l < "/sys/block/$vol/md/dev-$bk/bad_blocks")
	kill $writer 2>/dev/null
	wait $writer 2>/dev/null
	local q=${quiet#median_us=} b=${busy#median_us=}
	q=${q%% *}; b=${b%% *}
	log "write-pending median: $q us quiet, $b us while bad ranges arrive ($n ranges by then)"
	echo "bb-latency $IMPL quiet: $quiet | bad ranges arriving ($n): $busy" >> "$OUT/bb-latency.txt"
	[ "$n" -ge 3 ] || fail "only $n bad ranges arrived during the measurement"
	run timeout 60 mdadm --wait-clean "/dev/$vol"
	check_eq "$(dev_attr "$vol" "$bk" unacknowledged_bad_blocks)" "" "unacknowledged bad blocks"
	if [ "$IMPL" = rs ]; then
		# Within noise: no more than three times the quiet median plus 5 ms.
		[ "$b" -le $((3 * q + 5000)) ] || fail "write-pending slowed by bad ranges: $q -> $b us"
	fi
}

rm -f "$OUT/bb-latency.txt"
for impl in $IMPLS; do
	use_impl "$impl"
	run_scenario bb-raid1-bad-sector sc_raid1_bad_sector; cleanup_dm
	run_scenario bb-raid5-bad-range sc_raid5_bad_range; cleanup_dm
	run_scenario bb-during-rebuild-restart sc_during_rebuild_and_restart; cleanup_dm
	run_scenario bb-latency sc_latency_with_bad_ranges; cleanup_dm
	# Last: on Linux 6.12 the C mdmon leaves this writer hung for good.
	run_scenario bb-log-full sc_log_full; cleanup_dm
done
[ -e "$OUT/bb-latency.txt" ] && sed 's/^/  /' "$OUT/bb-latency.txt"
compare_results
finish badblocks
