#!/bin/bash
# Guest script: capture IMSM fixtures on 4K-native (4096-byte logical sector)
# loop devices, written by mdadm and its C mdmon. Run on the host with:
#   tests/vm/vm.sh -t 900 tests/vm/out/capture4k tests/vm/capture-4k-fixtures.sh
#   cp tests/vm/out/capture4k/fixtures/* tests/fixtures/imsm/
# MDADM=/path/to/mdadm picks another mdadm (default: Debian's).
# Per scenario NAME, /out/fixtures/ gets NAME.diskI.bin (the last 32 KiB of
# member disk I: MPB anchor at D-8192, migration record at D-4096),
# NAME.examine.txt and NAME.meta (as capture-fixtures.sh).
. "$VM_REPO/tests/vm/lib.sh"
DEST=${FIXTURE_DEST:-/out/fixtures}
MDADM=${MDADM:-mdadm}
mkdir -p "$DEST"

mkdisks4k() { DISK_SECTOR_SIZE=4096 mkdisks "$@"; }

capture() { # NAME DISKS...
	local name=$1 i=0 d size
	shift
	{
		echo "disk_size=$(blockdev --getsize64 "$1")"
		echo "sector_size=$(blockdev --getss "$1")"
		echo "ndisks=$#"
		echo "mdadm_version=$($MDADM --version 2>&1 | head -1)"
	} > "$DEST/$name.meta"
	for d in "$@"; do
		size=$(blockdev --getsize64 "$d")
		dd if="$d" of="$DEST/$name.disk$i.bin" bs=4096 skip=$(((size - 32768) / 4096)) count=8 \
			iflag=direct status=none || fail "dd tail of $d"
		echo "disk${i}_dev=$d" >> "$DEST/$name.meta"
		echo "disk${i}_serial=$d" >> "$DEST/$name.meta"
		i=$((i + 1))
	done
	$MDADM --examine "$1" > "$DEST/$name.examine.txt" 2>&1
	log "captured $name: $(grep -E 'Sector Size|Dirty State|Migrate State|Checkpoint' "$DEST/$name.examine.txt" | tr -s ' ' | tr '\n' ';')"
}

fresh() { cleanup_md; mapfile -t D < <(mkdisks4k "$1" 64); log "disks: ${D[*]} ss=$(blockdev --getss "${D[0]}")"; }

create() { # LEVEL N [opts]
	local level=$1 n=$2
	shift 2
	run $MDADM -CR /dev/md/imsm0 -e imsm -n "$n" "${D[@]:0:$n}"
	run $MDADM -CR /dev/md/vol0 -l "$level" -n "$n" /dev/md/imsm0 -z 16M "$@"
}

sc_raid1_clean() {
	fresh 2
	create 1 2 --assume-clean
	run dd if=/dev/urandom of=/dev/md/vol0 bs=64k count=16 oflag=direct status=none
	run $MDADM --stop /dev/md/vol0
	run $MDADM --stop /dev/md/imsm0
	capture 4k-raid1-clean "${D[@]}"
}

sc_raid1_dirty() {
	fresh 2
	create 1 2 --assume-clean
	local md pid
	md=$(md_name /dev/md/vol0)
	pid=$(mdmon_pid "$(md_name /dev/md/imsm0)")
	while :; do dd if=/dev/urandom of=/dev/md/vol0 bs=64k count=64 oflag=direct status=none; done &
	local ddpid=$!
	wait_for "/sys/block/$md/md/array_state" active 20 || fail "array never active"
	sleep 1
	kill -STOP "$pid"
	kill "$ddpid"
	wait "$ddpid" 2>/dev/null
	capture 4k-raid1-dirty "${D[@]}"
	kill -CONT "$pid"
	run $MDADM --stop /dev/md/vol0
	run $MDADM --stop /dev/md/imsm0
}

# A RAID5 resync stopped part-way: the checkpoint (curr_migr_unit) on disk.
sc_raid5_init() {
	fresh 3
	local md i
	echo 1000 > /proc/sys/dev/raid/speed_limit_min
	echo 1000 > /proc/sys/dev/raid/speed_limit_max
	create 5 3
	md=$(md_name /dev/md/vol0)
	run dd if=/dev/urandom of=/dev/md/vol0 bs=4k count=1 oflag=direct status=none
	for ((i = 0; i < 60; i++)); do
		sleep 1
		$MDADM --examine "${D[0]}" | grep -qE 'Checkpoint : [1-9]' && break
	done
	log "sync_completed: $(cat /sys/block/$md/md/sync_completed)"
	echo frozen > "/sys/block/$md/md/sync_action"
	sleep 2
	capture 4k-raid5-init "${D[@]}"
	echo 200000 > /proc/sys/dev/raid/speed_limit_max
	echo idle > "/sys/block/$md/md/sync_action"
	wait_idle /dev/md/vol0 300 || fail "resync did not finish"
	run $MDADM --stop /dev/md/vol0
	run $MDADM --stop /dev/md/imsm0
}

for s in ${*:-raid1-clean raid1-dirty raid5-init}; do
	case $s in
	raid1-clean) sc_raid1_clean ;;
	raid1-dirty) sc_raid1_dirty ;;
	raid5-init) sc_raid5_init ;;
	*) fail "unknown scenario $s" ;;
	esac
done
cleanup_md
log "done"
