#!/bin/bash
# Guest script (tests/vm/vm.sh, with the two boot disks attached as virtio
# disks vda and vdb): create the IMSM container and the RAID1 root volume on
# them, exactly as an installer would, and copy the root filesystem image in.
# Arguments: the root filesystem image (a host path; "none": the host
# writes it onto both members itself, IMSM RAID1 data starting at LBA 0 of
# each) and the volume's size (default 100M).
. "$VM_REPO/tests/vm/lib.sh"
TEST_NAME=boot-prepare
img=$1
modprobe virtio_blk
wait_for /sys/block/vdb/size '[1-9]*' 20 || fail "no virtio disks"
cp "$VM_REPO/target/x86_64-unknown-linux-musl/release/mdmon" /usr/sbin/mdmon
run mdadm -CR /dev/md/imsm0 -e imsm -n 2 /dev/vda /dev/vdb
run mdadm -CR /dev/md/root -l 1 -n 2 /dev/md/imsm0 -z "${2:-100M}" --assume-clean
[ "$img" = none ] || run dd if="$img" of=/dev/md/root bs=1M oflag=direct status=none
run mdadm --wait-clean /dev/md/root
run mdadm --stop /dev/md/root
run mdadm --stop /dev/md/imsm0
mdadm --examine /dev/vda | grep -E 'Dirty State|Map State|Migrate' | sed 's/^/    /'
log "prepared"
