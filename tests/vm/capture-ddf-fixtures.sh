#!/bin/bash
# Guest script: capture DDF metadata fixtures written by Debian's mdadm and
# its C mdmon. Run on the host with:
#   tests/vm/vm.sh -t 900 tests/vm/out/capture-ddf tests/vm/capture-ddf-fixtures.sh
#   cp tests/vm/out/capture-ddf/fixtures/* tests/fixtures/ddf/
# For each scenario NAME it writes to /out/fixtures/:
#   NAME.diskI.rle   the DDF metadata of member disk I: anchor, primary and
#                    secondary copies (tools/ddf_regions.py format)
#   NAME.examine.txt mdadm --examine of disk0 at capture time
#   NAME.meta        disk_size=, ndisks=, diskI_dev=
. "$VM_REPO/tests/vm/lib.sh"
DEST=${FIXTURE_DEST:-/out/fixtures}
mkdir -p "$DEST"
TOOL=$VM_REPO/tests/vm/tools/ddf_regions.py

capture() { # capture NAME DISKS...
	local name=$1 i=0 d
	shift
	{
		echo "disk_size=$(blockdev --getsize64 "$1")"
		echo "ndisks=$#"
		echo "mdadm_version=$(mdadm --version 2>&1 | head -1)"
	} > "$DEST/$name.meta"
	for d in "$@"; do
		python3 "$TOOL" dump "$d" "$DEST/$name.disk$i.rle" || fail "dump $d"
		echo "disk${i}_dev=$d" >> "$DEST/$name.meta"
		i=$((i + 1))
	done
	mdadm --examine "$1" > "$DEST/$name.examine.txt" 2>&1
	log "captured $name"
}

disks=$(mkdisks 3 64)
d0=$(echo "$disks" | sed -n 1p); d1=$(echo "$disks" | sed -n 2p); d2=$(echo "$disks" | sed -n 3p)
run mdadm -CR /dev/md/ddf0 -e ddf -n 3 $disks
run mdadm -CR /dev/md/r1 -l 1 -n 2 -z 8M --assume-clean "$d0" "$d1"
run mdadm -CR /dev/md/r5 -l 5 -n 3 -z 8M --assume-clean "$d0" "$d1" "$d2"
dd if=/dev/zero of=/dev/md/r1 bs=64k count=4 oflag=direct status=none
dd if=/dev/zero of=/dev/md/r5 bs=64k count=4 oflag=direct status=none
run mdadm --wait-clean /dev/md/r1
run mdadm --wait-clean /dev/md/r5
sleep 1
capture ddf-r1-r5-clean $disks
# A write in flight with mdmon stopped: the RAID5 is recorded dirty.
pid=$(cat /run/mdadm/$(basename "$(readlink -f /dev/md/ddf0)").pid)
echo 10 > "/sys/block/$(basename "$(readlink -f /dev/md/r5)")/md/safe_mode_delay"
dd if=/dev/zero of=/dev/md/r5 bs=64k count=1 oflag=direct status=none
sleep 0.5
kill -STOP "$pid"
capture ddf-r5-dirty $disks
kill -CONT "$pid"
cleanup_md
log "done"
