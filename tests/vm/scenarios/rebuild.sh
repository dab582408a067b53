#!/bin/bash
# Failure, spare activation, rebuild and checkpoint resume (IMSM), each run
# with Debian's C mdmon and with ours in one VM boot. Prints one ok/FAIL line
# per scenario and implementation, the rebuild work redone after an
# interruption, and "N passed, M failed".
# Arguments (VAR=value): IMPLS (default "c rs"), ONLY (one scenario).
for a in "$@"; do export "${a?}"; done
. "$VM_REPO/tests/vm/scenarios/common.sh"
rm -f "$OUT/redone.txt"

# Fill the volume with a known pattern and remember it.
fill() { # VOL MB
	dd if=/dev/urandom of=/tmp/pattern bs=1M count="$2" status=none
	run dd if=/tmp/pattern of="/dev/$1" bs=1M oflag=direct status=none
}
verify() { # VOL MB WHAT
	cmp -n $(($2 * 1024 * 1024)) /tmp/pattern "/dev/$1" >/dev/null || fail "data differs: $3"
	log "ok: data intact ($3)"
}
# The members of volume VOL (kernel names), in slot order.
members() { local d; for d in /sys/block/$1/md/dev-*; do echo "$(cat "$d/slot") ${d##*/dev-}"; done | sort -n | awk '$1 != "none" {print $2}'; }
map_state() { examine_field "$1" 'Map State'; }
wait_gone() { # VOL KNAME: the member left the volume
	local i
	for i in $(seq 100); do [ -e "/sys/block/$1/md/dev-$2" ] || return 0; sleep 0.1; done
	fail "$2 was not removed from $1"
}

# A member fails while a writer runs: the failure reaches the metadata,
# the writes complete, the data reads back.
sc_fail_during_writes() { # LEVEL N
	local level=$1 n=$2 disks vol ctr victim
	disks=$(mkdisks "$n" 64)
	vol=$(IMSM_SIZE=24M imsm_create vol0 "$level" "$n" $disks)
	ctr=$(md_name /dev/md/imsm0)
	check_mdmon "$ctr"
	dd if=/dev/urandom of=/tmp/pattern bs=1M count=16 status=none
	timeout 60 dd if=/tmp/pattern of="/dev/$vol" bs=64k oflag=direct status=none &
	local writer=$!
	sleep 0.5
	victim=$(members "$vol" | tail -n1)
	run mdadm "/dev/$vol" --fail "/dev/$victim"
	wait $writer || fail "writer failed or hung"
	wait_gone "$vol" "$victim"
	local good=$(members "$vol" | head -n1)
	check_eq "$(map_state "/dev/$good")" degraded "map state after the failure"
	mdadm --examine "/dev/$good" | grep -q 'Failed disk : none' && fail "no failed disk recorded"
	verify "$vol" 16 "after the failure"
	# Compare once idle: whether the safe-mode delay has passed since the
	# last write is a matter of timing, not of the failure recording.
	run mdadm --wait-clean "/dev/$vol"
	examine_norm "/dev/$good" > "$OUT/$IMPL.failed-raid$level.examine"
}

# Fail, remove from the container, add a spare: the rebuild completes and
# the rebuilt disk alone holds the data.
sc_spare_rebuild() { # LEVEL N
	local level=$1 n=$2 disks vol ctr victim spare
	disks=$(mkdisks $((n + 1)) 64)
	spare=$(echo "$disks" | tail -n1)
	disks=$(echo "$disks" | head -n "$n")
	vol=$(IMSM_SIZE=24M imsm_create vol0 "$level" "$n" $disks)
	ctr=$(md_name /dev/md/imsm0)
	check_mdmon "$ctr"
	fill "$vol" 16
	victim=$(members "$vol" | head -n1)
	run mdadm "/dev/$vol" --fail "/dev/$victim"
	wait_gone "$vol" "$victim"
	run mdadm /dev/md/imsm0 --remove "/dev/$victim"
	run mdadm /dev/md/imsm0 --add "$spare"
	wait_for "/sys/block/$vol/md/dev-${spare#/dev/}/slot" '[0-9]*' 20 || fail "spare not activated"
	wait_idle "/dev/$vol" 120 || fail "rebuild did not finish"
	run mdadm --wait-clean "/dev/md/vol0"
	sleep 0.5
	check_eq "$(cat /sys/block/$vol/md/degraded)" 0 "kernel degraded count"
	check_eq "$(map_state "$spare")" normal "map state after the rebuild"
	examine_norm "$spare" > "$OUT/$IMPL.rebuilt-raid$level.examine"
	# Read everything back from the rebuilt disk alone (RAID1: fail the other).
	if [ "$level" = 1 ]; then
		local other=$(members "$vol" | grep -v "${spare#/dev/}")
		run mdadm "/dev/$vol" --fail "/dev/$other"
		wait_gone "$vol" "$other"
	fi
	verify "$vol" 16 "from the rebuilt disk"
}

# Sectors of the rebuild done so far (first number of sync_completed).
progress() { awk '{print ($1 == "none") ? 0 : $1}' "/sys/block/$1/md/sync_completed"; }
wait_progress() { # VOL SECTORS TIMEOUT
	local end=$(($(date +%s) + $3))
	while [ "$(progress "$1")" -lt "$2" ]; do
		[ "$(date +%s)" -ge "$end" ] && fail "rebuild did not reach $2 (at $(progress "$1"))"
		sleep 0.1
	done
}
# The member array of container CTR with index 0.
# Start the re-assembled container's volume and record in /tmp/first where
# the kernel's ACTION (recover/resync) begins: sync_completed as soon as
# sync_action says ACTION (later reads already include progress).
# The loop uses shell builtins only and does not sleep: md may run a burst
# of several MiB before its speed limit applies, and a loop that forks per
# read (cat, awk, sleep) under emulation was seen reading after the burst.
# A 0 is taken only once it has lasted: md shows the action a moment before
# it sets where it starts, and a fast reader sees the old 0 in between.
start_volume_sampling() { # ACTION
	rm -f /tmp/first
	( SECONDS=0
	zeros=0
	while [ "$SECONDS" -lt 60 ]; do
		for d in /sys/block/md*/md; do
			[ "$d" = "/sys/block/$CTR/md" ] && continue
			a=; read -r a 2>/dev/null < "$d/sync_action"
			[ "$a" = "$1" ] || continue
			v=; read -r v _ 2>/dev/null < "$d/sync_completed"
			[[ $v =~ ^[0-9]+$ ]] || continue
			if [ "$v" = 0 ] && [ $((zeros += 1)) -lt 2000 ]; then continue; fi
			echo "$v" > /tmp/first
			exit 0
		done
	done ) &
	local sampler=$!
	run mdadm -I /dev/md/imsm0
	wait $sampler
}
checkpoint() { examine_field "$1" Checkpoint; }

# Start a rebuild of NSPARES failed slots onto spares, slowly. Sets VOL,
# SPARES (devices), GOOD (a surviving member), SIZE_S (component size).
start_slow_rebuild() { # LEVEL N NFAIL
	local level=$1 n=$2 nfail=$3 disks victims v
	echo 2000 > /proc/sys/dev/raid/speed_limit_max
	echo 1000 > /proc/sys/dev/raid/speed_limit_min
	disks=$(mkdisks $((n + nfail)) 80)
	SPARES=$(echo "$disks" | tail -n "$nfail")
	disks=$(echo "$disks" | head -n "$n")
	VOL=$(IMSM_SIZE=40M imsm_create vol0 "$level" "$n" $disks)
	CTR=$(md_name /dev/md/imsm0)
	check_mdmon "$CTR"
	fill "$VOL" 32
	for v in $SPARES; do run mdadm /dev/md/imsm0 --add "$v"; done
	# Fail one member of each mirror pair (slots 0, 2, ...).
	victims=$(members "$VOL" | awk -v k="$nfail" 'NR % 2 == 1 && c < k {print "/dev/"$0; c++}')
	run mdadm "/dev/$VOL" --fail $victims
	for v in $victims; do wait_gone "$VOL" "${v#/dev/}"; run mdadm /dev/md/imsm0 --remove "$v"; done
	for v in $SPARES; do
		wait_for "/sys/block/$VOL/md/dev-${v#/dev/}/slot" '[0-9]*' 20 || fail "spare $v not activated"
	done
	GOOD=/dev/$(members "$VOL" | grep -v -F "$(echo "$SPARES" | sed 's#/dev/##')" | head -n1)
	SIZE_S=$(( $(cat /sys/block/$VOL/md/component_size) * 2 ))
	log "rebuilding $(echo $SPARES) of $VOL ($SIZE_S sectors per member)"
}

crawl() {
	echo 1 > /proc/sys/dev/raid/speed_limit_min
	echo 1 > /proc/sys/dev/raid/speed_limit_max
	sleep 1
}

finish_rebuild_and_verify() { # LEVEL
	echo 1000 > /proc/sys/dev/raid/speed_limit_min
	echo 200000 > /proc/sys/dev/raid/speed_limit_max
	wait_idle "/dev/$VOL" 180 || fail "rebuild did not finish"
	run mdadm --wait-clean "/dev/$VOL"
	sleep 0.5
	check_eq "$(cat /sys/block/$VOL/md/degraded)" 0 "kernel degraded count"
	local s
	for s in $SPARES; do check_eq "$(map_state "$s")" normal "map state on $s"; done
	# The rebuilt disks alone must hold the data: fail the old partners.
	local others=$(members "$VOL" | grep -v -F "$(echo "$SPARES" | sed 's#/dev/##')")
	if [ "$1" = 1 ] || [ "$1" = 10 ]; then
		local o victims=
		for o in $others; do
			# Fail the partner of each rebuilt slot.
			local slot=$(cat "/sys/block/$VOL/md/dev-$o/slot")
			local pslot=$((slot ^ 1))
			for s in $SPARES; do
				[ "$(cat "/sys/block/$VOL/md/dev-${s#/dev/}/slot")" = "$pslot" ] && victims="$victims /dev/$o"
			done
		done
		[ -n "$victims" ] && run mdadm "/dev/$VOL" --fail $victims
	fi
	echo 3 > /proc/sys/vm/drop_caches
	verify "$VOL" 32 "read from the rebuilt disks without their partners"
}

# Interrupt a rebuild at about a third by stopping the volume and container;
# re-assemble: it resumes near where it stopped, not at zero.
sc_interrupt_stop() { # LEVEL N NFAIL
	start_slow_rebuild "$@"
	wait_progress "$VOL" $((SIZE_S / 3)) 120
	# Slow the rebuild to a crawl so positions can be read exactly.
	crawl
	local stopped=$(progress "$VOL")
	local now=$(members "$VOL" | sed 's#^#/dev/#')
	run mdadm --stop /dev/md/vol0
	run mdadm --stop /dev/md/imsm0
	local spare0=$(echo "$SPARES" | head -n1)
	log "stopped at $stopped; metadata: $(mdadm --examine "$spare0" | grep -E 'Migrate State|Checkpoint|Map State' | tr -s ' ' | tr '\n' ';')"
	run mdadm -A /dev/md/imsm0 $now
	CTR=$(md_name /dev/md/imsm0)
	start_volume_sampling recover
	VOL=$(volume_of "$CTR")
	[ -n "$VOL" ] || fail "volume not re-assembled"
	[ -s /tmp/first ] || fail "recovery did not start"
	local resume=$(cat /tmp/first)
	log "resumed: recovery started at $resume; sync_completed now $(progress "$VOL")"
	dmesg | grep -E 'resumes at' | sed 's/^/    /'
	echo "redone $IMPL $TEST_NAME stopped=$stopped resumed=$resume redone=$((stopped - resume))" >> "$OUT/redone.txt"
	if [ "$resume" = 0 ] && [ "$IMPL" = c ] && [ "$3" -gt 1 ]; then
		# Known limit of Debian's mdadm/mdmon: with more than one rebuilding
		# member every rebuild restarts from zero.
		log "C mdmon: restarted from zero with $3 rebuilding members (known limit)"
	else
		[ "$resume" -gt 0 ] || fail "the rebuild restarted from zero"
		[ "$resume" -le "$stopped" ] || fail "resumed at $resume, beyond where it stopped ($stopped)"
	fi
	check_mdmon "$CTR"
	finish_rebuild_and_verify "$1"
}

# The same, but our mdmon is killed and restarted mid-rebuild.
sc_interrupt_kill() { # LEVEL N NFAIL
	start_slow_rebuild "$@"
	wait_progress "$VOL" $((SIZE_S / 3)) 120
	local pid=$(mdmon_pid "$CTR")
	kill -KILL "$pid"
	local stopped=$(progress "$VOL")
	sleep 1
	run mdmon "$CTR"
	check_mdmon "$CTR"
	wait_progress "$VOL" $((SIZE_S * 2 / 3)) 120
	local spare0=$(echo "$SPARES" | head -n1)
	local ck=$(checkpoint "$spare0" | awk '{print $1}')
	log "killed at $stopped; metadata checkpoint now $ck units"
	[ -n "$ck" ] && [ "$ck" -gt 0 ] || fail "the restarted mdmon records no checkpoint"
	finish_rebuild_and_verify "$1"
}

# A dirty stop (mdmon killed while writes run, the array stopped without
# it): re-assembly resyncs; the resync is checkpointed and, interrupted at
# about a third, resumes from the checkpoint.
sc_dirty_resync() {
	local disks vol pid
	disks=$(mkdisks 2 80)
	VOL=$(IMSM_SIZE=40M imsm_create vol0 1 2 $disks)
	CTR=$(md_name /dev/md/imsm0)
	check_mdmon "$CTR"
	fill "$VOL" 32
	pid=$(mdmon_pid "$CTR")
	dd if=/tmp/pattern of="/dev/$VOL" bs=64k oflag=direct status=none &
	local writer=$!
	sleep 0.3
	kill -KILL "$pid"
	wait $writer || fail "writer failed"
	check_eq "$(dirty_state "$(echo "$disks" | head -n1)")" dirty "metadata dirty after the kill"
	run mdadm --stop "/dev/$VOL"
	run mdadm --stop /dev/md/imsm0
	echo 2000 > /proc/sys/dev/raid/speed_limit_max
	echo 1000 > /proc/sys/dev/raid/speed_limit_min
	run mdadm -A /dev/md/imsm0 $disks
	run mdadm -I /dev/md/imsm0
	CTR=$(md_name /dev/md/imsm0)
	VOL=$(volume_of "$CTR")
	[ -n "$VOL" ] || fail "volume not re-assembled"
	check_mdmon "$CTR"
	wait_for "/sys/block/$VOL/md/sync_action" resync 20 || fail "no resync after the dirty stop"
	SIZE_S=$(( $(cat /sys/block/$VOL/md/component_size) * 2 ))
	wait_progress "$VOL" $((SIZE_S / 3)) 120
	crawl
	local stopped=$(progress "$VOL")
	local d0=$(echo "$disks" | head -n1)
	run mdadm --stop "/dev/$VOL"
	run mdadm --stop /dev/md/imsm0
	log "stopped at $stopped; metadata: $(mdadm --examine "$d0" | grep -E 'Migrate State|Checkpoint|Dirty State' | tr -s ' ' | tr '\n' ';')"
	local ck=$(checkpoint "$d0" | awk '{print $1}')
	[ -n "$ck" ] && [ "$ck" -gt 0 ] || fail "no resync checkpoint recorded"
	run mdadm -A /dev/md/imsm0 $disks
	CTR=$(md_name /dev/md/imsm0)
	start_volume_sampling resync
	VOL=$(volume_of "$CTR")
	local resume=$(cat /tmp/first 2>/dev/null)
	log "resync resumed at $resume (stopped at $stopped)"
	echo "redone $IMPL $TEST_NAME stopped=$stopped resumed=$resume redone=$((stopped - ${resume:-0}))" >> "$OUT/redone.txt"
	[ -n "$resume" ] && [ "$resume" -gt 0 ] || fail "the resync restarted from zero"
	[ "$resume" -le "$stopped" ] || fail "resumed beyond where it stopped"
	echo 1000 > /proc/sys/dev/raid/speed_limit_min
	echo 200000 > /proc/sys/dev/raid/speed_limit_max
	wait_idle "/dev/$VOL" 180 || fail "resync did not finish"
	run mdadm --wait-clean "/dev/$VOL"
	sleep 0.5
	mdadm --examine "$d0" | grep -q 'Migrate State : idle' || fail "migration still recorded after the resync"
	check_eq "$(dirty_state "$d0")" clean "clean after the resync"
	verify "$VOL" 32 "after the resync"
}

# No spare disk, but free space: a 3-disk container with vol0 on disks 0,1
# and vol1 on disks 1,2 (so disk 2 is free where vol0 lives). Disk 0 fails:
# vol0 rebuilds onto the free space of disk 2 (upstream's "disk already in
# another volume" spare); the data then reads back from disk 2 alone.
sc_free_space_rebuild() {
	local disks d0 d1 d2 vol
	disks=$(mkdisks 3 64)
	d0=$(echo "$disks" | sed -n 1p); d1=$(echo "$disks" | sed -n 2p); d2=$(echo "$disks" | sed -n 3p)
	run mdadm -CR /dev/md/imsm0 -e imsm -n 3 $disks
	run mdadm -CR /dev/md/vol0 -l 1 -n 2 -z 16M --assume-clean "$d0" "$d1"
	run mdadm -CR /dev/md/vol1 -l 1 -n 2 -z 16M --assume-clean "$d1" "$d2"
	vol=$(md_name /dev/md/vol0)
	CTR=$(md_name /dev/md/imsm0)
	check_mdmon "$CTR"
	fill "$vol" 16
	run mdadm "/dev/$vol" --fail "$d0"
	wait_for "/sys/block/$vol/md/dev-${d2#/dev/}/slot" '[0-9]*' 20 || fail "the free space on $d2 was not used"
	wait_idle "/dev/$vol" 120 || fail "rebuild did not finish"
	run mdadm --wait-clean /dev/md/vol0
	sleep 0.5
	check_eq "$(cat /sys/block/$vol/md/degraded)" 0 "kernel degraded count"
	check_eq "$(map_state "$d2")" normal "map state after the rebuild"
	examine_norm "$d2" > "$OUT/$IMPL.free-space.examine"
	run mdadm "/dev/$vol" --fail "$d1"
	wait_gone "$vol" "${d1#/dev/}"
	echo 3 > /proc/sys/vm/drop_caches
	verify "$vol" 16 "from the disk whose free space was used"
}

# sect4k.sh sources this file for its scenarios and runs them on 4K disks.
[ -n "${REBUILD_AS_LIBRARY:-}" ] && return 0
for impl in $IMPLS; do
	use_impl "$impl"
	run_scenario fail-writes-raid1 sc_fail_during_writes 1 2
	run_scenario fail-writes-raid5 sc_fail_during_writes 5 3
	run_scenario fail-writes-raid10 sc_fail_during_writes 10 4
	run_scenario spare-rebuild-raid1 sc_spare_rebuild 1 2
	run_scenario spare-rebuild-raid5 sc_spare_rebuild 5 3
	run_scenario free-space-rebuild sc_free_space_rebuild
	run_scenario interrupt-stop-raid1 sc_interrupt_stop 1 2 1
	run_scenario interrupt-kill-raid1 sc_interrupt_kill 1 2 1
	run_scenario interrupt-stop-raid10x2 sc_interrupt_stop 10 4 2
	run_scenario dirty-resync-raid1 sc_dirty_resync
done
[ -e "$OUT/redone.txt" ] && sed 's/^/  /' "$OUT/redone.txt"
compare_results
finish rebuild
