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

for impl in $IMPLS; do
	use_impl "$impl"
	run_scenario ddf-monitor sc_ddf_monitor
	run_scenario ddf-two-volumes sc_ddf_two_volumes
	run_scenario ddf-volumes sc_ddf_volumes
done
compare_results
finish ddf
