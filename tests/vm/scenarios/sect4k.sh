#!/bin/bash
# IMSM on 4K-native disks (loop devices with 4096-byte logical sectors):
# dirty/clean marking and re-assembly, a member failing under writes, a
# spare rebuild, and a rebuild interrupted by stopping the array that
# resumes from its checkpoint after re-assembly. Each runs with Debian's C
# mdmon and with ours; what both leave on disk (mdadm --examine) must match.
# Arguments (VAR=value): IMPLS (default "c rs"), ONLY (one scenario).
for a in "$@"; do export "${a?}"; done
REBUILD_AS_LIBRARY=1 . "$VM_REPO/tests/vm/scenarios/rebuild.sh"

# Every disk of this group has 4096-byte logical sectors.
export DISK_SECTOR_SIZE=4096
sector_size() { examine_field "$1" 'Sector Size'; }

# Writes make the volume dirty on disk, idleness clean; after a stop and a
# new assembly (the metadata loaded from the 4K disks) it is clean and
# holds the data.
sc_monitor() {
	local disks d0 vol writer i
	disks=$(mkdisks 2 64)
	d0=$(echo "$disks" | head -n1)
	check_eq "$(blockdev --getss "$d0")" 4096 "logical sector size"
	vol=$(imsm_create vol0 1 2 $disks)
	CTR=$(md_name /dev/md/imsm0)
	check_mdmon "$CTR"
	check_eq "$(sector_size "$d0")" 4096 "IMSM sector size"
	echo 0.2 > "/sys/block/$vol/md/safe_mode_delay"
	while :; do dd if=/dev/urandom of="/dev/$vol" bs=64k count=16 oflag=direct status=none; done &
	writer=$!
	local seen=clean
	for i in $(seq 100); do seen=$(dirty_state "$d0"); [ "$seen" = dirty ] && break; sleep 0.1; done
	kill $writer; wait $writer 2>/dev/null
	check_eq "$seen" dirty "dirty on disk while written"
	wait_for "/sys/block/$vol/md/array_state" clean 30 || fail "not clean after the writes"
	for i in $(seq 100); do [ "$(dirty_state "$d0")" = clean ] && break; sleep 0.1; done
	check_eq "$(dirty_state "$d0")" clean "clean on disk when idle"
	fill "$vol" 8
	run mdadm --wait-clean "/dev/$vol"
	examine_norm "$d0" > "$OUT/$IMPL.4k-monitor.examine"
	run mdadm --stop "/dev/$vol"
	run mdadm --stop /dev/md/imsm0
	run mdadm -A /dev/md/imsm0 $disks
	run mdadm -I /dev/md/imsm0
	CTR=$(md_name /dev/md/imsm0)
	vol=$(volume_of "$CTR")
	[ -n "$vol" ] || fail "volume not re-assembled"
	check_mdmon "$CTR"
	check_eq "$(cat /sys/block/$vol/md/degraded)" 0 "degraded after re-assembly"
	verify "$vol" 8 "after re-assembly"
	check_eq "$(dirty_state "$d0")" clean "clean after re-assembly"
}

for impl in $IMPLS; do
	use_impl "$impl"
	run_scenario 4k-monitor-raid1 sc_monitor
	run_scenario 4k-fail-writes-raid5 sc_fail_during_writes 5 3
	run_scenario 4k-spare-rebuild-raid1 sc_spare_rebuild 1 2
	run_scenario 4k-interrupt-stop-raid1 sc_interrupt_stop 1 2 1
done
[ -e "$OUT/redone.txt" ] && sed 's/^/  /' "$OUT/redone.txt"
compare_results
finish sect4k
