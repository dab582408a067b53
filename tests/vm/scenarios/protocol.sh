#!/bin/bash
# mdadm drives mdmon through the control socket: a second volume created,
# renamed and deleted while mdmon runs, a spare added; and hostile clients
# must not delay write-pending. Each with Debian's C mdmon and with ours.
# Arguments (VAR=value): IMPLS (default "c rs"), ONLY (one scenario).
for a in "$@"; do export "${a?}"; done
. "$VM_REPO/tests/vm/scenarios/common.sh"

volume_count() { examine_field "$1" 'RAID Devices'; }

# Create, write, rename and kill a second volume; add a spare. After each
# step what is on disk is saved for the comparison with the C mdmon.
sc_volumes() {
	local disks ctr vol vol1 d0 spare
	disks=$(mkdisks 3 64)
	spare=$(echo "$disks" | tail -n1)
	disks=$(echo "$disks" | head -n2)
	d0=$(echo "$disks" | head -n1)
	vol=$(IMSM_SIZE=16M imsm_create vol0 1 2 $disks)
	ctr=$(md_name /dev/md/imsm0)
	check_mdmon "$ctr"
	# mdmon runs: mdadm sends the new volume as an update over the socket.
	run mdadm -CR /dev/md/vol1 -l 0 -n 2 /dev/md/imsm0 -z 8M
	vol1=$(md_name /dev/md/vol1)
	check_eq "$(volume_count "$d0")" 2 "volumes after create"
	run dd if=/dev/urandom of="/dev/$vol1" bs=64k count=16 oflag=direct status=none
	run dd if=/dev/urandom of="/dev/$vol" bs=64k count=16 oflag=direct status=none
	run mdadm --wait-clean "/dev/$vol"
	examine_norm "$d0" > "$OUT/$IMPL.create.examine"
	run mdadm --stop /dev/md/vol1
	run mdadm --update-subarray=1 --update=name -N renamed /dev/md/imsm0
	mdadm --examine "$d0" | grep -q '\[renamed\]' || fail "rename not recorded"
	examine_norm "$d0" > "$OUT/$IMPL.rename.examine"
	run mdadm --kill-subarray=1 /dev/md/imsm0
	check_eq "$(volume_count "$d0")" 1 "volumes after kill"
	examine_norm "$d0" > "$OUT/$IMPL.kill.examine"
	run mdadm /dev/md/imsm0 --add "$spare"
	run mdadm --wait-clean "/dev/$vol"
	sleep 1
	examine_norm "$spare" | grep -v '^ *Family' > "$OUT/$IMPL.spare.examine"
	mdadm --examine "$spare" | grep -qi 'spare' || fail "no spare record on $spare"
	check_mdmon "$ctr"
}

# mdadm --grow -l0 on a RAID10: mdadm fails one disk of each mirror, sends
# the takeover update (R10->R0) to the running mdmon, then md changes the
# level. The failed halves become spares; the data stays. (The way back,
# -l10, is done by mdadm itself: no mdmon runs for a RAID0-only container.)
# Known difference: the C mdmon stops watching the array as soon as it is
# RAID0 and leaves it recorded dirty; ours records it clean (nothing will
# ever resync a RAID0), so the Dirty State line is compared apart.
sc_takeover_r10_r0() {
	local disks vol ctr d
	disks=$(mkdisks 4 64)
	vol=$(imsm_create vol0 10 4 $disks)
	ctr=$(md_name /dev/md/imsm0)
	check_mdmon "$ctr"
	dd if=/dev/urandom of=/tmp/data bs=1M count=8 status=none
	run dd if=/tmp/data of="/dev/$vol" bs=1M oflag=direct status=none
	run mdadm --grow /dev/md/vol0 -l 0
	wait_for "/sys/block/$vol/md/level" raid0 10 || fail "level not changed"
	run mdadm --wait-clean "/dev/$vol"
	sleep 2
	for d in $disks; do
		examine_norm "$d" | grep -v 'Dirty State' > "$OUT/$IMPL.takeover-r10-r0-${d##*/}.examine"
	done
	d=$(echo "$disks" | head -n1)
	mdadm --examine "$d" | grep -q 'RAID Level : 0' || fail "not RAID0 in the metadata"
	[ "$(mdadm --examine "$d" | awk -F': ' '/^ *Disks/ {print $2}')" = 2 ] || fail "disk table not halved"
	cmp <(dd if="/dev/$vol" bs=1M count=8 iflag=direct status=none) /tmp/data || fail "data changed"
	log "ok: data intact after the takeover"
	log "dirty state: $(dirty_state "$d")"
	[ "$IMPL" = rs ] && check_eq "$(dirty_state "$d")" clean "RAID0 recorded clean"
	# The array needs no monitor now: the instance leaves.
	local i
	for i in $(seq 50); do [ -e "/run/mdadm/$ctr.pid" ] || break; sleep 0.2; done
	[ "$IMPL" = rs ] && { [ -e "/run/mdadm/$ctr.pid" ] && fail "mdmon still running for a RAID0"; log "ok: mdmon exited"; }
	return 0
}

# mdadm --grow reshapes driven through mdmon. mdmon records the general
# migration (update 5 for the container's disk count, 6 for a chunk size)
# before md reshapes, takes mdadm's checkpoints (update 8), follows a new
# member, and ends the migration when md is done. Then the container is
# stopped and assembled again: the volume must come back in the new layout
# with its data (with the metadata left describing the old layout it would
# not). Both leave what the C mdmon leaves.
# grow_and_check NAME RAID_DISKS MEMBERS_AFTER CHUNK_AFTER GROW_ARGS...
grow_and_check() {
	local name=$1 ndisks=$2 members=$3 chunk=$4 disks vol d0 i
	shift 4
	raid5_with_data "$ndisks"
	disks=$DISKS d0=$D0 vol=$VOL
	run mdadm --grow "$@"
	sleep 1
	wait_for "/sys/block/$vol/md/sync_action" idle 120 || fail "reshape did not end"
	# mdadm's background reshape process finishes after md.
	for i in $(seq 60); do pgrep -x mdadm >/dev/null || break; sleep 0.5; done
	run mdadm --wait-clean "/dev/$vol"
	sleep 1
	mdadm --examine "$d0" | grep -q "Members : $members" || fail "metadata does not have $members members"
	mdadm --examine "$d0" | grep -q "Chunk Size : $chunk KiB" || fail "metadata chunk is not $chunk KiB"
	mdadm --examine "$d0" | grep -q 'Migrate State : idle' || fail "migration not ended"
	examine_norm "$d0" > "$OUT/$IMPL.$name.examine"
	cmp <(dd if="/dev/$vol" bs=1M count=32 iflag=direct status=none) /tmp/data || fail "data changed by the reshape"
	run mdadm --stop "/dev/$vol"
	run mdadm --stop /dev/md/imsm0
	run mdadm -A /dev/md/imsm0 $disks
	run mdadm -I /dev/md/imsm0
	sleep 2
	vol=$(awk '/^md[0-9]+ : .*raid5/ {print $1; exit}' /proc/mdstat)
	[ -n "$vol" ] || fail "volume not assembled again"
	check_eq "$(cat /sys/block/$vol/md/raid_disks)" "$members" "raid_disks after assembly"
	check_eq "$(cat /sys/block/$vol/md/chunk_size)" $((chunk * 1024)) "chunk after assembly"
	cmp <(dd if="/dev/$vol" bs=1M count=32 iflag=direct status=none) /tmp/data || fail "data wrong after assembly"
	log "ok: data intact after the reshape and a new assembly"
}
# RAID5 over 3 disks grown to 4 (online capacity expansion, update 5).
sc_grow_container() { grow_and_check grow-container 4 4 128 /dev/md/imsm0 -n 4; }
# RAID5 chunk 128 KiB -> 64 KiB (update 6).
sc_grow_chunk() { grow_and_check grow-chunk 3 3 64 /dev/md/vol0 --chunk=64; }

# Hostile clients while a writer measures write-pending latency.
sc_hostile() {
	local disks vol ctr pid quiet busy
	disks=$(mkdisks 2 64)
	vol=$(imsm_create vol0 1 2 $disks)
	ctr=$(md_name /dev/md/imsm0)
	check_mdmon "$ctr"
	pid=$(mdmon_pid "$ctr")
	echo 0.05 > "/sys/block/$vol/md/safe_mode_delay"
	dd if=/dev/zero of="/dev/$vol" bs=4k count=1 oflag=direct status=none
	wait_for "/sys/block/$vol/md/array_state" clean 30 || fail "not clean"
	quiet=$(measure_wp "$vol") || fail "quiet: no measurement ($quiet)"
	python3 "$VM_REPO/tests/vm/tools/hostile_clients.py" "/run/mdadm/$ctr.sock" 20 &
	local hostile=$!
	sleep 1
	if ! busy=$(measure_wp "$vol"); then
		# What mdmon's threads wait on, and md's view, while the clients run.
		log "no measurement with clients: array_state $(cat /sys/block/$vol/md/array_state)"
		for t in /proc/$pid/task/*; do log "  thread ${t##*/}: $(cat $t/stat | awk '{print $3}') wchan=$(cat $t/wchan)"; done
		wait $hostile
		# The requirement is ours: write-pending answered under hostile
		# clients. The C mdmon once (1 of about 10 runs) left the array
		# active for 30 s here; that is recorded as its result, and the
		# checks after the clients are gone still apply to it.
		[ "$IMPL" = rs ] && fail "hostile: no measurement ($busy)"
		echo "hostile $IMPL quiet: $quiet | hostile: no measurement ($busy)" >> "$OUT/hostile.txt"
		kill -0 "$pid" || fail "mdmon died"
		run timeout 30 mdadm --wait-clean "/dev/$vol"
		return 0
	fi
	wait $hostile
	log "quiet: $quiet"
	log "hostile: $busy"
	echo "hostile $IMPL quiet: $quiet | hostile: $busy" >> "$OUT/hostile.txt"
	kill -0 "$pid" || fail "mdmon died"
	run timeout 30 mdadm --wait-clean "/dev/$vol"
	local q=${quiet#median_us=} b=${busy#median_us=}
	q=${q%% *}; b=${b%% *}
	log "write-pending median: $q us quiet, $b us with hostile clients"
	if [ "$IMPL" = rs ]; then
		# Within noise: no more than three times the quiet median plus 5 ms.
		[ "$b" -le $((3 * q + 5000)) ] || fail "write-pending slowed by clients: $q -> $b us"
	fi
}

rm -f "$OUT/hostile.txt"
for impl in $IMPLS; do
	use_impl "$impl"
	run_scenario volumes sc_volumes
	run_scenario hostile-clients sc_hostile
	run_scenario takeover-r10-r0 sc_takeover_r10_r0
	run_scenario grow-container sc_grow_container
	run_scenario grow-chunk sc_grow_chunk
done
compare_results
[ -e "$OUT/hostile.txt" ] && sed 's/^/  /' "$OUT/hostile.txt"
finish protocol
