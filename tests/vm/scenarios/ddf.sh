#!/bin/bash
# DDF containers, each scenario with Debian's C mdmon and with ours; what
# both leave on disk (mdadm --examine, normalised) is compared.
# Note: Debian's mdadm 4.2 crashes on `--add` to a DDF container (an mdadm
# bug), so spares are put in the container when it is created.
# Arguments (VAR=value): IMPLS (default "c rs"), ONLY (one scenario).
for a in "$@"; do export "${a?}"; done
. "$VM_REPO/tests/vm/scenarios/common.sh"
rm -f "$OUT"/*.examine

# Fields of DDF --examine that differ run to run (GUIDs, sequence numbers,
# timestamps) are dropped; loop names normalised.
ddf_examine_norm() {
	mdadm --examine "$1" 2>&1 | grep -vE '^ *(Controller GUID|Container GUID|VD GUID|Seq|Redundant hdr|Virtual Disks|/dev/)' \
		| grep -v '(Linux-MD' \
		| sed -E 's#/dev/loop[0-9]+#LOOP#g; s#[0-9a-f]{8}:[0-9a-f]{8}:[0-9a-f]{8}:[0-9a-f]{8}:[0-9a-f:]+#GUID#g' \
		| sed -E 's/^( +[0-9]+ +)[0-9a-f]{8} /\1REFNUM /'
}
fill() { # DEV MB TAG
	dd if=/dev/urandom of="/tmp/pattern.$3" bs=1M count="$2" status=none
	run dd if="/tmp/pattern.$3" of="$1" bs=1M oflag=direct status=none
}
verify() { # DEV MB TAG WHAT
	cmp -n $(($2 * 1024 * 1024)) "/tmp/pattern.$3" "$1" >/dev/null || fail "data differs: $4"
	log "ok: data intact ($4)"
}
slot_of() { cat "/sys/block/$1/md/dev-$2/slot" 2>/dev/null; }
wait_gone() { local i; for i in $(seq 100); do [ -e "/sys/block/$1/md/dev-$2" ] || return 0; sleep 0.1; done; fail "$2 still in $1"; }

# A RAID1 and a RAID5 volume sharing disks 0-2, disk 3 a spare. Writes go
# dirty then clean; disk 0 fails in both; the spare is rebuilt into both;
# the rebuilt disk alone (with a partner failed) holds the data.
sc_ddf_two_volumes() {
	local disks d0 d1 d2 d3 ctr r1 r5
	disks=$(mkdisks 4 128)
	d0=$(echo "$disks" | sed -n 1p); d1=$(echo "$disks" | sed -n 2p)
	d2=$(echo "$disks" | sed -n 3p); d3=$(echo "$disks" | sed -n 4p)
	# Made with no mdmon running (mdadm writes the metadata itself), then
	# the mdmon under test is started.
	MDADM_NO_MDMON=1 run mdadm -CR /dev/md/ddf0 -e ddf -n 4 $disks
	MDADM_NO_MDMON=1 run mdadm -CR /dev/md/r1 -l 1 -n 2 -z 16M --assume-clean "$d0" "$d1"
	MDADM_NO_MDMON=1 run mdadm -CR /dev/md/r5 -l 5 -n 3 -z 16M --assume-clean "$d0" "$d1" "$d2"
	ctr=$(md_name /dev/md/ddf0); r1=$(md_name /dev/md/r1); r5=$(md_name /dev/md/r5)
	run mdmon "$ctr"
	check_mdmon "$ctr"
	[ -e "/sys/block/$r1/md/dev-${d0#/dev/}" ] && [ -e "/sys/block/$r5/md/dev-${d0#/dev/}" ] \
		|| fail "disk 0 is not in both volumes ($(ls /sys/block/$r1/md /sys/block/$r5/md | grep dev-))"
	echo 0.2 > "/sys/block/$r1/md/safe_mode_delay"; echo 0.2 > "/sys/block/$r5/md/safe_mode_delay"
	fill "/dev/$r1" 8 r1
	fill "/dev/$r5" 16 r5
	wait_for "/sys/block/$r1/md/array_state" clean 20 || fail "r1 not clean on idle"
	wait_for "/sys/block/$r5/md/array_state" clean 20 || fail "r5 not clean on idle"
	ddf_examine_norm "$d1" > "$OUT/$IMPL.ddf-clean.examine"
	run mdadm "/dev/$r1" --fail "$d0"
	wait_gone "$r1" "${d0#/dev/}"; wait_gone "$r5" "${d0#/dev/}"
	log "disk 0 failed in both volumes"
	wait_for "/sys/block/$r1/md/dev-${d3#/dev/}/slot" '[0-9]*' 30 || fail "spare not rebuilt into r1"
	wait_for "/sys/block/$r5/md/dev-${d3#/dev/}/slot" '[0-9]*' 30 || fail "spare not rebuilt into r5"
	wait_idle "/dev/$r1" 120 || fail "r1 rebuild did not finish"
	wait_idle "/dev/$r5" 120 || fail "r5 rebuild did not finish"
	run mdadm --wait-clean "/dev/$r1"; run mdadm --wait-clean "/dev/$r5"
	sleep 1
	check_eq "$(cat /sys/block/$r1/md/degraded)" 0 "r1 degraded count"
	check_eq "$(cat /sys/block/$r5/md/degraded)" 0 "r5 degraded count"
	ddf_examine_norm "$d3" > "$OUT/$IMPL.ddf-rebuilt.examine"
	# The rebuilt disk must carry the data: fail disk 1 in both (r1 then
	# reads from disk 3 alone, r5 reconstructs with disk 3's blocks).
	run mdadm "/dev/$r1" --fail "$d1"
	wait_gone "$r1" "${d1#/dev/}"; wait_gone "$r5" "${d1#/dev/}"
	echo 3 > /proc/sys/vm/drop_caches
	verify "/dev/$r1" 8 r1 "r1 from the rebuilt disk"
	verify "/dev/$r5" 16 r5 "r5 with the rebuilt disk"
}

# A second volume created and killed while mdmon runs. (Debian's mdadm
# 4.2 refuses --update-subarray on DDF: "Operation not supported for ddf
# metadata", so there is no rename to test.)
sc_ddf_volumes() {
	local disks d0 ctr
	disks=$(mkdisks 3 128)
	d0=$(echo "$disks" | head -n1)
	run mdadm -CR /dev/md/ddf0 -e ddf -n 3 $disks
	run mdadm -CR /dev/md/r1 -l 1 -n 2 /dev/md/ddf0 -z 16M --assume-clean
	ctr=$(md_name /dev/md/ddf0)
	check_mdmon "$ctr"
	run mdadm -CR /dev/md/r0 -l 0 -n 3 /dev/md/ddf0 -z 8M
	run dd if=/dev/urandom of=/dev/md/r0 bs=64k count=16 oflag=direct status=none
	run mdadm --wait-clean /dev/md/r1
	ddf_examine_norm "$d0" > "$OUT/$IMPL.ddf-create.examine"
	run mdadm --stop /dev/md/r0
	run mdadm --kill-subarray=1 /dev/md/ddf0
	ddf_examine_norm "$d0" > "$OUT/$IMPL.ddf-kill.examine"
}

# Monitoring without metadata updates over the socket: the container and
# both volumes are made by mdadm with no mdmon running (MDADM_NO_MDMON, so
# mdadm writes the metadata itself), then the mdmon under test is started.
# Writes go dirty then clean; a disk failed in one volume is failed in both,
# recorded, and the writes go on; after the container is assembled again
# (mdadm starts mdmon) both volumes run degraded with their data.
sc_ddf_monitor() {
	local disks d0 d1 d2 ctr r1 r5
	# Disk 2 is smaller: no room for the RAID1 on it, so no mdmon can
	# rebuild the RAID1 there (the C mdmon would) and what a failure leaves
	# is compared as such. (DDF keeps the last 32 MiB of a disk.)
	disks=$(mkdisks 2 128)
	d0=$(echo "$disks" | sed -n 1p); d1=$(echo "$disks" | sed -n 2p)
	d2=$(mkdisks 1 80 small)
	disks="$disks $d2"
	MDADM_NO_MDMON=1 run mdadm -CR /dev/md/ddf0 -e ddf -n 3 $disks
	MDADM_NO_MDMON=1 run mdadm -CR /dev/md/r1 -l 1 -n 2 -z 40M --assume-clean "$d0" "$d1"
	MDADM_NO_MDMON=1 run mdadm -CR /dev/md/r5 -l 5 -n 3 -z 40M --assume-clean "$d0" "$d1" "$d2"
	ctr=$(md_name /dev/md/ddf0); r1=$(md_name /dev/md/r1); r5=$(md_name /dev/md/r5)
	run mdmon "$ctr"
	check_mdmon "$ctr"
	echo 0.2 > "/sys/block/$r1/md/safe_mode_delay"; echo 0.2 > "/sys/block/$r5/md/safe_mode_delay"
	fill "/dev/$r1" 8 r1
	fill "/dev/$r5" 16 r5
	wait_for "/sys/block/$r1/md/array_state" clean 20 || fail "r1 not clean on idle"
	wait_for "/sys/block/$r5/md/array_state" clean 20 || fail "r5 not clean on idle"
	sleep 0.5
	mdadm --examine "$d1" | grep -q 'state\[1\] : Optimal, Consistent' || fail "r5 not recorded consistent"
	ddf_examine_norm "$d1" > "$OUT/$IMPL.ddf-monitor-clean.examine"
	# A write in flight is recorded: Not Consistent until idle again.
	echo 10 > "/sys/block/$r5/md/safe_mode_delay"
	run dd if=/dev/zero of="/dev/$r5" bs=4k count=1 seek=8000 oflag=direct status=none
	sleep 0.5
	mdadm --examine "$d1" | grep -q 'state\[1\] : Optimal, Not Consistent' || fail "r5 write not recorded dirty"
	log "ok: the RAID5 is recorded inconsistent while written"
	dd if="/tmp/pattern.r5" of="/dev/$r5" bs=4k count=1 seek=8000 skip=8000 oflag=direct status=none
	echo 0.2 > "/sys/block/$r5/md/safe_mode_delay"
	wait_for "/sys/block/$r5/md/array_state" clean 20 || fail "r5 not clean again"
	run mdadm "/dev/$r1" --fail "$d0"
	wait_gone "$r1" "${d0#/dev/}"; wait_gone "$r5" "${d0#/dev/}"
	log "ok: disk 0 failed in both volumes"
	run dd if=/dev/urandom of="/dev/$r5" bs=64k count=4 oflag=direct status=none
	dd if="/tmp/pattern.r5" of="/dev/$r5" bs=64k count=4 oflag=direct status=none
	run mdadm --wait-clean "/dev/$r1"; run mdadm --wait-clean "/dev/$r5"
	sleep 0.5
	ddf_examine_norm "$d1" > "$OUT/$IMPL.ddf-monitor-failed.examine"
	mdadm --examine "$d1" | grep -q 'state\[0\] : Degraded, Consistent' || fail "r1 not recorded degraded"
	mdadm --examine "$d1" | grep -q 'state\[1\] : Degraded, Consistent' || fail "r5 not recorded degraded"
	verify "/dev/$r1" 8 r1 "r1 degraded"
	verify "/dev/$r5" 16 r5 "r5 degraded"
	run mdadm --stop "/dev/$r1"; run mdadm --stop "/dev/$r5"; run mdadm --stop "/dev/$ctr"
	run mdadm -A /dev/md/ddf0 "$d1" "$d2"
	run mdadm -I /dev/md/ddf0
	sleep 2
	ctr=$(md_name /dev/md/ddf0)
	check_mdmon "$ctr"
	r1=$(awk '/^md[0-9]+ : .*raid1/ {print $1; exit}' /proc/mdstat)
	r5=$(awk '/^md[0-9]+ : .*raid5/ {print $1; exit}' /proc/mdstat)
	[ -n "$r1" ] && [ -n "$r5" ] || fail "volumes not assembled again"
	# Assembled from the metadata: disk 0 is recorded failed, not used.
	[ -e "/sys/block/$r1/md/dev-${d0#/dev/}" ] && fail "the failed disk is back in r1"
	check_eq "$(cat /sys/block/$r1/md/degraded)" 1 "r1 degraded after assembly"
	check_eq "$(cat /sys/block/$r5/md/degraded)" 1 "r5 degraded after assembly"
	run dd if="/tmp/pattern.r1" of="/dev/$r1" bs=64k count=2 oflag=direct status=none
	verify "/dev/$r1" 8 r1 "r1 after assembly"
	verify "/dev/$r5" 16 r5 "r5 after assembly"
}

# The other levels: a RAID10 (a DDF secondary-level VD: two RAID1 BVDs
# spanned) and a RAID6 that resyncs from the start, over four disks. Writes
# go dirty then clean; then mdmon is killed (-9) while the RAID10 is dirty,
# the container assembled again, and the resync (from zero: DDF keeps no
# position) ends with the volume consistent.
sc_ddf_levels() {
	local disks d0 ctr r10 r6 a
	disks=$(mkdisks 4 128)
	d0=$(echo "$disks" | head -n1)
	MDADM_NO_MDMON=1 run mdadm -CR /dev/md/ddf0 -e ddf -n 4 $disks
	MDADM_NO_MDMON=1 run mdadm -CR /dev/md/r10 -l 10 -n 4 -z 16M --assume-clean $disks
	MDADM_NO_MDMON=1 run mdadm -CR /dev/md/r6 -l 6 -n 4 -z 16M $disks
	ctr=$(md_name /dev/md/ddf0); r10=$(md_name /dev/md/r10); r6=$(md_name /dev/md/r6)
	run mdmon "$ctr"
	check_mdmon "$ctr"
	wait_idle "/dev/$r6" 120 || fail "RAID6 resync did not end"
	run mdadm --wait-clean "/dev/$r6"
	mdadm --examine "$d0" | grep -q 'init state\[1\] : Fully Initialised' || fail "RAID6 not recorded initialised"
	fill "/dev/$r10" 4 r10
	fill "/dev/$r6" 4 r6
	run mdadm --wait-clean "/dev/$r10"; run mdadm --wait-clean "/dev/$r6"
	ddf_examine_norm "$d0" > "$OUT/$IMPL.ddf-levels-clean.examine"
	echo 10 > "/sys/block/$r10/md/safe_mode_delay"
	run dd if="/tmp/pattern.r10" of="/dev/$r10" bs=64k count=1 oflag=direct status=none
	sleep 0.3
	kill -9 "$(mdmon_pid "$ctr")"
	mdadm --examine "$d0" | grep -q 'state\[0\] : Optimal, Not Consistent' || fail "RAID10 not recorded dirty"
	log "ok: RAID10 recorded dirty when mdmon died"
	mdadm --stop "/dev/$r10"; mdadm --stop "/dev/$r6"; mdadm --stop "/dev/$ctr"
	run mdadm -A /dev/md/ddf0 $disks
	run mdadm -I /dev/md/ddf0
	sleep 1
	ctr=$(md_name /dev/md/ddf0)
	check_mdmon "$ctr"
	for a in $(awk '/^md[0-9]+ : .*raid(10|6)/ {print $1}' /proc/mdstat); do
		wait_idle "/dev/$a" 120 || fail "$a resync did not end"
		run mdadm --wait-clean "/dev/$a"
	done
	mdadm --examine "$d0" | grep -q 'state\[0\] : Optimal, Consistent' || fail "RAID10 not consistent after the resync"
	ddf_examine_norm "$d0" > "$OUT/$IMPL.ddf-levels-resynced.examine"
	r10=$(awk '/^md[0-9]+ : .*raid10/ {print $1; exit}' /proc/mdstat)
	r6=$(awk '/^md[0-9]+ : .*raid6/ {print $1; exit}' /proc/mdstat)
	verify "/dev/$r10" 4 r10 "RAID10 after the dirty stop"
	verify "/dev/$r6" 4 r6 "RAID6 after the dirty stop"
}

# Rebuild onto free space of a disk already in another volume: a RAID1 on
# disks 0,1 and a RAID5 on 0-2, no spare disk; disk 0 fails: the RAID1 is
# rebuilt into the free space of disk 2, the RAID5 (no disk left) stays
# degraded. The data of the RAID1 is then read with disk 1 failed too.
sc_ddf_free_space() {
	local disks d0 d1 d2 ctr r1 r5
	disks=$(mkdisks 3 128)
	d0=$(echo "$disks" | sed -n 1p); d1=$(echo "$disks" | sed -n 2p); d2=$(echo "$disks" | sed -n 3p)
	MDADM_NO_MDMON=1 run mdadm -CR /dev/md/ddf0 -e ddf -n 3 $disks
	MDADM_NO_MDMON=1 run mdadm -CR /dev/md/r1 -l 1 -n 2 -z 16M --assume-clean "$d0" "$d1"
	MDADM_NO_MDMON=1 run mdadm -CR /dev/md/r5 -l 5 -n 3 -z 16M --assume-clean "$d0" "$d1" "$d2"
	ctr=$(md_name /dev/md/ddf0); r1=$(md_name /dev/md/r1); r5=$(md_name /dev/md/r5)
	run mdmon "$ctr"
	check_mdmon "$ctr"
	fill "/dev/$r1" 8 r1
	run mdadm "/dev/$r1" --fail "$d0"
	wait_gone "$r1" "${d0#/dev/}"; wait_gone "$r5" "${d0#/dev/}"
	wait_for "/sys/block/$r1/md/dev-${d2#/dev/}/slot" '[0-9]*' 30 || fail "r1 not rebuilt onto disk 2"
	wait_idle "/dev/$r1" 120 || fail "r1 rebuild did not finish"
	run mdadm --wait-clean "/dev/$r1"; run mdadm --wait-clean "/dev/$r5"
	sleep 1
	check_eq "$(cat /sys/block/$r1/md/degraded)" 0 "r1 degraded count"
	check_eq "$(cat /sys/block/$r5/md/degraded)" 1 "r5 degraded count"
	ddf_examine_norm "$d2" > "$OUT/$IMPL.ddf-free-space.examine"
	run mdadm "/dev/$r1" --fail "$d1"
	wait_gone "$r1" "${d1#/dev/}"
	echo 3 > /proc/sys/vm/drop_caches
	verify "/dev/$r1" 8 r1 "r1 from disk 2 alone"
}

# A disk added to the running container becomes a spare and is rebuilt
# into both degraded volumes. mdadm 4.2 crashes on `--add` to a DDF
# container, so the disk is added the way mdadm would: through the
# container's new_dev, and mdmon picks it up. Disk 2 is small (no room for
# the RAID1), so the new disk is the only way back to redundancy.
sc_ddf_hot_spare() {
	local disks d0 d1 d2 d3 ctr r1 r5
	disks=$(mkdisks 2 128)
	d0=$(echo "$disks" | sed -n 1p); d1=$(echo "$disks" | sed -n 2p)
	d2=$(mkdisks 1 80 small)
	d3=$(mkdisks 1 128 new)
	MDADM_NO_MDMON=1 run mdadm -CR /dev/md/ddf0 -e ddf -n 3 $disks "$d2"
	MDADM_NO_MDMON=1 run mdadm -CR /dev/md/r1 -l 1 -n 2 -z 40M --assume-clean "$d0" "$d1"
	MDADM_NO_MDMON=1 run mdadm -CR /dev/md/r5 -l 5 -n 3 -z 40M --assume-clean "$d0" "$d1" "$d2"
	ctr=$(md_name /dev/md/ddf0); r1=$(md_name /dev/md/r1); r5=$(md_name /dev/md/r5)
	run mdmon "$ctr"
	check_mdmon "$ctr"
	fill "/dev/$r1" 8 r1
	fill "/dev/$r5" 16 r5
	run mdadm "/dev/$r1" --fail "$d0"
	wait_gone "$r1" "${d0#/dev/}"; wait_gone "$r5" "${d0#/dev/}"
	echo "$(cat "/sys/block/${d3#/dev/}/dev")" > "/sys/block/$ctr/md/new_dev" || fail "adding $d3 to the container"
	wait_for "/sys/block/$r1/md/dev-${d3#/dev/}/slot" '[0-9]*' 30 || fail "new disk not rebuilt into r1"
	wait_for "/sys/block/$r5/md/dev-${d3#/dev/}/slot" '[0-9]*' 30 || fail "new disk not rebuilt into r5"
	wait_idle "/dev/$r1" 120 || fail "r1 rebuild did not finish"
	wait_idle "/dev/$r5" 120 || fail "r5 rebuild did not finish"
	run mdadm --wait-clean "/dev/$r1"; run mdadm --wait-clean "/dev/$r5"
	sleep 1
	check_eq "$(cat /sys/block/$r1/md/degraded)" 0 "r1 degraded count"
	check_eq "$(cat /sys/block/$r5/md/degraded)" 0 "r5 degraded count"
	ddf_examine_norm "$d3" > "$OUT/$IMPL.ddf-hot-spare.examine"
	run mdadm "/dev/$r1" --fail "$d1"
	wait_gone "$r1" "${d1#/dev/}"; wait_gone "$r5" "${d1#/dev/}"
	echo 3 > /proc/sys/vm/drop_caches
	verify "/dev/$r1" 8 r1 "r1 from the added disk alone"
	verify "/dev/$r5" 16 r5 "r5 with the added disk"
}

for impl in $IMPLS; do
	use_impl "$impl"
	run_scenario ddf-monitor sc_ddf_monitor
	run_scenario ddf-two-volumes sc_ddf_two_volumes
	run_scenario ddf-volumes sc_ddf_volumes
	run_scenario ddf-levels sc_ddf_levels
	run_scenario ddf-free-space sc_ddf_free_space
	run_scenario ddf-hot-spare sc_ddf_hot_spare
done
compare_results
finish ddf
