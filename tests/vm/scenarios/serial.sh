#!/bin/bash
# IMSM on disks named by their real serial numbers (issue 15.5): every
# other group sets IMSM_DEVNAME_AS_SERIAL=1 for loop devices, which have
# none. Here three virtio-scsi disks carry serials (tests/vm/serial-disks.sh
# attaches them; "MDRS:SER-00N", stored by IMSM as "MDRS;SER-00N"). mdadm
# and mdmon must both find each disk by it: a RAID1 written (dirty, then
# clean), a member failed, a spare rebuilt, a new assembly. Each with
# Debian's C mdmon and with ours; what both leave on disk must match.
# Arguments (VAR=value): IMPLS (default "c rs"), ONLY (one scenario).
for a in "$@"; do export "${a?}"; done
. "$VM_REPO/tests/vm/scenarios/common.sh"
unset IMSM_DEVNAME_AS_SERIAL
modprobe -a virtio_scsi sd_mod || echo "serial: modprobe virtio_scsi sd_mod failed"
for i in $(seq 50); do [ -b /dev/sdc ] && break; sleep 0.2; done

# The scsi disk whose serial ends in N.
disk_with_serial() {
	local d
	for d in /sys/block/sd*; do
		grep -q "SER-00$1" "$d/device/vpd_pg80" 2>/dev/null && { echo "/dev/${d##*/}"; return 0; }
	done
	return 1
}

sc_serial() {
	local d0 d1 d2 vol ctr d
	d0=$(disk_with_serial 0) && d1=$(disk_with_serial 1) && d2=$(disk_with_serial 2) \
		|| fail "no scsi disks with serials (ls /sys/block: $(ls /sys/block | tr '\n' ' '))"
	for d in $d0 $d1 $d2; do
		# No metadata from the previous run (IMSM keeps it in the last sectors).
		run dd if=/dev/zero of="$d" bs=1M count=1 seek=63 oflag=direct status=none
	done
	vol=$(imsm_create vol0 1 2 "$d0" "$d1")
	ctr=$(md_name /dev/md/imsm0)
	check_mdmon "$ctr"
	for d in 0 1; do
		mdadm --examine "$d0" | grep -q "Serial : MDRS;SER-00$d\$" || fail "serial MDRS;SER-00$d not in the metadata"
	done
	log "ok: both members recorded by serial"
	echo 0.05 > "/sys/block/$vol/md/safe_mode_delay"
	run dd if=/dev/urandom of=/tmp/pattern bs=1M count=8 status=none
	run dd if=/tmp/pattern of="/dev/$vol" bs=1M oflag=direct status=none
	run timeout 30 mdadm --wait-clean "/dev/$vol"
	check_eq "$(dirty_state "$d0")" clean "Dirty State after writes"
	run mdadm "/dev/$vol" --fail "$d1"
	for i in $(seq 100); do [ "$(examine_field "$d0" 'Map State')" = degraded ] && break; sleep 0.1; done
	check_eq "$(examine_field "$d0" 'Map State')" degraded "map state after the failure"
	run mdadm --remove /dev/md/imsm0 "$d1"
	run mdadm --add /dev/md/imsm0 "$d2"
	sleep 1
	wait_for "/sys/block/$vol/md/sync_action" idle 120 || fail "no rebuild end"
	run timeout 30 mdadm --wait-clean "/dev/$vol"
	for i in $(seq 100); do [ "$(examine_field "$d0" 'Map State')" = normal ] && break; sleep 0.1; done
	check_eq "$(examine_field "$d0" 'Map State')" normal "map state after the rebuild"
	mdadm --examine "$d0" | grep -q "Serial : MDRS;SER-002\$" || fail "the spare's serial is not in the metadata"
	cmp -n $((8 << 20)) /tmp/pattern "/dev/$vol" || fail "data differs after the rebuild"
	examine_norm "$d0" | sed -E 's#/dev/sd[a-z]#SD#g' > "$OUT/$IMPL.serial-rebuilt.examine"
	run mdadm --stop "/dev/$vol"
	run mdadm --stop /dev/md/imsm0
	reassemble "$d0" "$d2"
	vol=$VOL
	check_eq "$(cat /sys/block/$vol/md/degraded)" 0 "degraded after a new assembly"
	cmp -n $((8 << 20)) /tmp/pattern "/dev/$vol" || fail "data differs after a new assembly"
	log "ok: assembled again from the serials, data intact"
}

for impl in $IMPLS; do
	use_impl "$impl"
	run_scenario serial sc_serial
done
compare_results
finish serial
