#!/bin/bash
# Guest script: capture IMSM metadata fixtures written by Debian's mdadm and
# its C mdmon. Run on the host with:
#   tests/vm/vm.sh -t 900 tests/vm/out/capture tests/vm/capture-fixtures.sh [NAME...]
#   cp tests/vm/out/capture/fixtures/* tests/fixtures/imsm/
# For each scenario NAME it writes to /out/fixtures/:
#   NAME.diskI.bin   last 8 KiB of member disk I (MPB anchor at D-1024,
#                    extended MPB sectors below it, migration record at D-512)
#   NAME.examine.txt mdadm --examine of disk0 at capture time
#   NAME.meta        disk_size=, sector_size=, diskI_serial=, diskI_dev=
. "$VM_REPO/tests/vm/lib.sh"
DEST=${FIXTURE_DEST:-/out/fixtures}
mkdir -p "$DEST"
DISK_MB=64
export IMSM_SIZE=16M

capture() { # capture NAME DISKS...
	local name=$1 i=0 d
	shift
	{
		echo "disk_size=$(blockdev --getsize64 "$1")"
		echo "sector_size=$(blockdev --getss "$1")"
		echo "ndisks=$#"
		echo "mdadm_version=$(mdadm --version 2>&1 | head -1)"
	} > "$DEST/$name.meta"
	for d in "$@"; do
		disk_tail "$d" "$DEST/$name.disk$i.bin"
		echo "disk${i}_dev=$d" >> "$DEST/$name.meta"
		echo "disk${i}_serial=$d" >> "$DEST/$name.meta"
		i=$((i + 1))
	done
	mdadm --examine "$1" > "$DEST/$name.examine.txt" 2>&1
	log "captured $name: $(grep -E 'Dirty State|Migrate State|Checkpoint' "$DEST/$name.examine.txt" | tr -s ' ' | tr '\n' ';')"
}

stop_all() { # stop volumes, then the container (clean shutdown via mdmon)
	local v
	for v in "$@"; do run mdadm --stop "/dev/md/$v"; done
	run mdadm --stop /dev/md/imsm0
	sleep 0.5
}

fresh() { cleanup_md; mapfile -t D < <(mkdisks "$1" "$DISK_MB"); log "disks: ${D[*]}"; }

sc_raid1_clean() {
	fresh 2
	imsm_create vol0 1 2 "${D[@]}" >/dev/null
	run dd if=/dev/urandom of=/dev/md/vol0 bs=64k count=16 oflag=direct status=none
	stop_all vol0
	capture raid1-clean "${D[@]}"
}

sc_raid1_dirty() {
	fresh 2
	imsm_create vol0 1 2 "${D[@]}" >/dev/null
	local md ctr pid
	md=$(md_name /dev/md/vol0)
	ctr=$(md_name /dev/md/imsm0)
	pid=$(mdmon_pid "$ctr")
	[ -n "$pid" ] || fail "no mdmon pid for $ctr"
	# keep writing so the array is active and mdmon has recorded dirty
	while :; do dd if=/dev/urandom of=/dev/md/vol0 bs=64k count=64 oflag=direct status=none; done &
	local ddpid=$!
	wait_for "/sys/block/$md/md/array_state" active 20 || fail "array never active"
	sleep 1
	mdadm --examine "${D[0]}" | grep -q 'Dirty State : dirty' || fail "not dirty on disk"
	# freeze mdmon so the dirty MPB stays on disk, then quiesce the writer
	kill -STOP "$pid"
	kill "$ddpid" 2>/dev/null
	sleep 1
	capture raid1-dirty "${D[@]}"
	grep -q 'Dirty State : dirty' "$DEST/raid1-dirty.examine.txt" || fail "raid1-dirty not dirty"
	kill -CONT "$pid"
	wait "$ddpid" 2>/dev/null
	stop_all vol0
}

sc_raid5_init() {
	fresh 3
	local md
	echo 1000 > /proc/sys/dev/raid/speed_limit_min
	echo 1000 > /proc/sys/dev/raid/speed_limit_max
	IMSM_ASSUME_CLEAN=0 imsm_create vol0 5 3 "${D[@]}" >/dev/null
	md=$(md_name /dev/md/vol0)
	# Array is auto-read-only until first write; writing starts the resync.
	run dd if=/dev/urandom of=/dev/md/vol0 bs=4k count=1 oflag=direct status=none
	local i
	for ((i = 0; i < 60; i++)); do
		sleep 1
		if mdadm --examine "${D[0]}" | grep -qE 'Checkpoint : [1-9]'; then break; fi
	done
	log "sync_completed: $(cat /sys/block/$md/md/sync_completed)"
	echo frozen > "/sys/block/$md/md/sync_action"
	sleep 2
	capture raid5-3disk-init "${D[@]}"
	grep -q 'Migrate State : initialize' "$DEST/raid5-3disk-init.examine.txt" || log "WARNING: raid5-3disk-init not migrating"
	echo 2000000 > /proc/sys/dev/raid/speed_limit_max
	echo idle > "/sys/block/$md/md/sync_action"
	sleep 1
	wait_idle /dev/md/vol0 300 || fail "resync did not finish"
	wait_for "/sys/block/$md/md/array_state" 'clean' 30 || log "WARNING: array_state $(cat /sys/block/$md/md/array_state)"
	sleep 1
	stop_all vol0
	capture raid5-3disk-initdone "${D[@]}"
	echo 1000 > /proc/sys/dev/raid/speed_limit_min
}

sc_raid10_clean() {
	fresh 4
	imsm_create vol0 10 4 "${D[@]}" >/dev/null
	run dd if=/dev/urandom of=/dev/md/vol0 bs=64k count=16 oflag=direct status=none
	stop_all vol0
	capture raid10-4disk-clean "${D[@]}"
}

sc_raid0() {
	fresh 2
	imsm_create vol0 0 2 "${D[@]}" >/dev/null
	run dd if=/dev/urandom of=/dev/md/vol0 bs=64k count=16 oflag=direct status=none
	stop_all vol0
	capture raid0-2disk "${D[@]}"
}

sc_two_volumes() {
	fresh 2
	IMSM_SIZE=8M imsm_create vol0 1 2 "${D[@]}" >/dev/null
	IMSM_SIZE=8M imsm_create vol1 0 2 "${D[@]}" >/dev/null
	run dd if=/dev/urandom of=/dev/md/vol0 bs=64k count=8 oflag=direct status=none
	run dd if=/dev/urandom of=/dev/md/vol1 bs=64k count=8 oflag=direct status=none
	stop_all vol1 vol0
	capture two-volumes "${D[@]}"
}

# Three disks, vol0 on disks 0,1 and vol1 on disks 1,2: disk 2 has free
# space where vol0 lives, disk 0 where vol1 lives.
sc_staggered() {
	fresh 3
	run mdadm -CR /dev/md/imsm0 -e imsm -n 3 "${D[@]}"
	run mdadm -CR /dev/md/vol0 -l 1 -n 2 -z 16M --assume-clean "${D[0]}" "${D[1]}"
	run mdadm -CR /dev/md/vol1 -l 1 -n 2 -z 16M --assume-clean "${D[1]}" "${D[2]}"
	stop_all vol1 vol0
	capture staggered-volumes "${D[@]}"
}

ALL="raid1-clean raid1-dirty raid5-3disk-init raid10-4disk-clean raid0-2disk two-volumes staggered-volumes"
for s in ${*:-$ALL}; do
	case $s in
	raid1-clean) sc_raid1_clean ;;
	raid1-dirty) sc_raid1_dirty ;;
	raid5-3disk-init*) sc_raid5_init ;;
	raid10-4disk-clean) sc_raid10_clean ;;
	raid0-2disk) sc_raid0 ;;
	two-volumes) sc_two_volumes ;;
	staggered-volumes) sc_staggered ;;
	*) fail "unknown scenario $s" ;;
	esac
done
cleanup_md
log "done"
