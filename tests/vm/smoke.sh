#!/bin/bash
# Guest smoke test: IMSM RAID1 on loop devices with the system (C) mdmon,
# or with $MDMON if set (copied over /sbin/mdmon in the guest's overlay).
. "$VM_REPO/tests/vm/lib.sh"
set -u
if [ -n "${MDMON:-}" ]; then
	log "using mdmon $MDMON"
	install -m755 "$MDMON" /usr/sbin/mdmon
fi
mapfile -t D < <(mkdisks 2 64)
md=$(imsm_create vol0 1 2 "${D[@]}")
ctr=$(md_name /dev/md/imsm0)
log "volume $md in container $ctr"
check test -n "$(mdmon_pid "$ctr")"
check_attr /dev/md/vol0 array_state 'read-auto'
run dd if=/dev/urandom of=/tmp/data bs=64k count=32 status=none
run dd if=/tmp/data of=/dev/md/vol0 bs=64k oflag=direct status=none
check_attr /dev/md/vol0 array_state 'active*'
check cmp -n $((64 * 1024 * 32)) /tmp/data /dev/md/vol0
wait_for "/sys/block/$md/md/array_state" clean 10 || fail "array did not become clean"
check_attr /dev/md/vol0 array_state clean
check_eq "$(mdadm --examine "${D[0]}" | sed -n 's/^ *Dirty State : //p')" clean "on-disk dirty state after idle"
run mdadm --stop /dev/md/vol0
run mdadm --stop /dev/md/imsm0
check_eq "$(mdadm --examine "${D[0]}" | sed -n 's/^ *Dirty State : //p')" clean "on-disk dirty state after stop"
cleanup_md
log PASS
