#!/bin/bash
# Fault injection against the real md driver (issue 12), each scenario with
# both mdmons in one VM boot: a member whose metadata region stops taking
# writes, a member that vanishes under a writer, mdmon killed (-9) 20 times
# during a rebuild, during dirty/clean transitions and during socket
# updates, and the process fixes (fds 0-2, `--all` children).
# Where the C mdmon is known to act otherwise, its outcome is measured and
# printed as a "  differs:" line; its other checks still apply.
# Figures are printed as "  figures:" lines.
# Arguments (VAR=value): IMPLS (default "rs c"), ONLY (scenario names,
# space-separated), KILLS (default 20).
IMPLS="rs c"
for a in "$@"; do export "${a?}"; done
. "$VM_REPO/tests/vm/scenarios/common.sh"
KILLS=${KILLS:-20}

# dm_disk NAME SIZE_MB: a loop device of SIZE_MB under /dev/mapper/NAME (linear).
dm_disk() {
	local f=/tmp/disk-$1.img loop
	truncate -s "$2M" "$f"
	loop=$(losetup -f --show "$f") || fail "losetup"
	echo "$loop" > "/tmp/loop-$1"
	echo "0 $(($2 * 2048)) linear $loop 0" | dmsetup create "$1" || fail "dmsetup create $1"
	local i
	[ -b "/dev/mapper/$1" ] || dmsetup mknodes "$1" # no udev in the guest
	echo "/dev/mapper/$1"
}
kname() { dmsetup info -c --noheadings -o blkdevname "$1"; }
# reload NAME TABLE: swap the table of a live dm device.
reload() {
	dmsetup suspend "$1" || fail "suspend $1"
	printf '%s\n' "$2" | dmsetup load "$1" || fail "load $1"
	dmsetup resume "$1" || fail "resume $1"
}
cleanup_dm() { cleanup_md; dmsetup remove_all --force 2>/dev/null; losetup -D; rm -f /tmp/disk-*.img /tmp/loop-*; }
# teardown VOL: stop the volume and the container (logged: timed).
teardown() { run mdadm --stop "/dev/$1"; run mdadm --stop /dev/md/imsm0; }
members() { local d; for d in /sys/block/$1/md/dev-*; do echo "$(cat "$d/slot") ${d##*/dev-}"; done | sort -n | awk '$1 != "none" {print $2}'; }
map_state() { examine_field "$1" 'Map State'; }
# The member left volume $1 (md failed it and mdmon removed it).
gone_within() { local i; for i in $(seq $(($3 * 10))); do [ -e "/sys/block/$1/md/dev-$2" ] || return 0; sleep 0.1; done; return 1; }
failed_recorded() { ! mdadm --examine "$1" | grep -q 'Failed disk : none'; }
differs() { echo "  differs: $*"; }
figures() { echo "  figures: $*"; }

# mdmon_alive CTR OLDPID: wait (10 s) for a running mdmon for CTR other than OLDPID.
new_mdmon() {
	local i p
	for i in $(seq 100); do
		p=$(mdmon_pid "$1")
		[ -n "$p" ] && [ "$p" != "$2" ] && kill -0 "$p" 2>/dev/null && { echo "$p"; return 0; }
		sleep 0.1
	done
	return 1
}
# kill9 CTR: kill -9 the container's mdmon, wait until it is gone, start a
# new one (plain start, as mdadm does), wait for it.
kill9() {
	local p i
	p=$(mdmon_pid "$1")
	[ -n "$p" ] && kill -0 "$p" 2>/dev/null || fail "no mdmon to kill for $1"
	kill -9 "$p"
	for i in $(seq 100); do [ -e "/proc/$p" ] || break; sleep 0.05; done
	[ -e "/proc/$p" ] && fail "mdmon $p survived kill -9"
	mdmon "$1" >/dev/null 2>&1 || fail "restarting mdmon for $1 failed"
	new_mdmon "$1" "$p" >/dev/null || fail "no new mdmon for $1 after the kill"
}
# random_sleep MIN_MS SPAN_MS
random_sleep() { sleep "$(printf '0.%03d' $((($1 + RANDOM % $2))))"; }

# A writer of verified 1 MiB chunks: passes over CHUNKS MiB, each pass with
# its own pattern, until /tmp/stop exists (the pass then finishes). Every
# write is O_DIRECT and must return within 60 s. /tmp/writer.pass holds the
# last complete pass.
writer() { # VOL CHUNKS PAUSE_MIN_MS PAUSE_SPAN_MS
	local pass=0 i
	rm -f /tmp/stop /tmp/writer.pass /tmp/writer.err
	while [ ! -e /tmp/stop ]; do
		pass=$((pass + 1))
		dd if=/dev/urandom of=/tmp/pat.$pass bs=1M count="$2" status=none
		for ((i = 0; i < $2; i++)); do
			timeout 60 dd if=/tmp/pat.$pass of="/dev/$1" bs=1M count=1 skip=$i seek=$i oflag=direct conv=notrunc status=none \
				|| { echo "pass $pass chunk $i: rc $?" > /tmp/writer.err; return 1; }
			[ "$3" -gt 0 ] && random_sleep "$3" "$4"
		done
		echo $pass > /tmp/writer.pass
		rm -f /tmp/pat.$((pass - 1))
	done
}
# stop_writer PID: let the pass finish, check it succeeded; sets PASSES.
stop_writer() {
	touch /tmp/stop
	wait "$1" || fail "writer failed: $(cat /tmp/writer.err 2>/dev/null)"
	PASSES=$(cat /tmp/writer.pass)
}
verify_last_pass() { # VOL CHUNKS WHAT
	cmp -n $(($2 * 1048576)) "/tmp/pat.$PASSES" "/dev/$1" >/dev/null || fail "data differs: $3"
	log "ok: data of pass $PASSES intact ($3)"
}

# (a) A clean array's member stops taking writes in its metadata region
# (the last MiB: IMSM's anchor and MPB sit in the last sectors); then one
# write. The write completes, mdmon lives; ours fails the member in md and
# records it failed on the others.
sc_meta_fail() { # LEVEL N
	local level=$1 n=$2 i disks="" vol ctr victim vk good sectors=$((64 * 2048))
	for ((i = 0; i < n; i++)); do disks+=" $(dm_disk f$i 64)"; done
	vol=$(IMSM_SIZE=16M imsm_create vol0 "$level" "$n" $disks)
	ctr=$(md_name /dev/md/imsm0)
	check_mdmon "$ctr"
	echo 0.05 > "/sys/block/$vol/md/safe_mode_delay"
	dd if=/dev/urandom of=/tmp/pattern bs=1M count=4 status=none
	run dd if=/tmp/pattern of="/dev/$vol" bs=1M oflag=direct status=none
	run mdadm --wait-clean "/dev/$vol"
	wait_for "/sys/block/$vol/md/array_state" clean 30 || fail "not clean"
	victim=f$((n - 1)) vk=$(kname f$((n - 1))) good=/dev/mapper/f0
	reload "$victim" "0 $((sectors - 2048)) linear $(cat /tmp/loop-$victim) 0
$((sectors - 2048)) 2048 error"
	timeout 60 dd if=/tmp/pattern of="/dev/$vol" bs=64k count=1 seek=1 skip=1 oflag=direct conv=notrunc status=none \
		|| fail "the write after the metadata region failed did not complete"
	log "ok: the write completed"
	check_mdmon "$ctr"
	if gone_within "$vol" "$vk" 10; then
		log "ok: $vk failed and removed from $vol"
		wait_for "/sys/block/$vol/md/degraded" 1 10 || fail "md does not count the volume degraded"
		failed_recorded "$good" || fail "no failed disk recorded on $good"
		check_eq "$(map_state "$good")" degraded "map state on $good"
	elif [ "$IMPL" = c ]; then
		differs "meta-fail-raid$level c: after its metadata write failed, $vk stays in $vol" \
			"(state $(cat /sys/block/$vol/md/dev-$vk/state)), the metadata on $good records" \
			"failed disk $(examine_field "$good" 'Failed disk'), map state $(map_state "$good")"
	else
		fail "$vk still in $vol (state $(cat /sys/block/$vol/md/dev-$vk/state))"
	fi
	check_mdmon "$ctr"
	cmp -n $((4 * 1048576)) /tmp/pattern "/dev/$vol" >/dev/null || fail "data differs"
	log "ok: data intact"
	run mdadm --wait-clean "/dev/$vol"
	teardown "$vol"
}

# (b) A member's table becomes `error` under a running writer (the disk is
# gone): mdmon lives, the member is failed and recorded, the writer and a
# later write complete, the data reads back.
sc_vanish() { # LEVEL N
	local level=$1 n=$2 i disks="" vol ctr victim vk good
	for ((i = 0; i < n; i++)); do disks+=" $(dm_disk v$i 64)"; done
	vol=$(IMSM_SIZE=24M imsm_create vol0 "$level" "$n" $disks)
	ctr=$(md_name /dev/md/imsm0)
	check_mdmon "$ctr"
	echo 0.05 > "/sys/block/$vol/md/safe_mode_delay"
	dd if=/dev/urandom of=/tmp/pattern bs=1M count=16 status=none
	# The writer rewrites the pattern until told to stop, so writes are in
	# flight when the disk goes, however fast the machine (a single pass can
	# end before the table is wiped); each pass is whole, so the data check
	# below holds.
	rm -f /tmp/vanish-stop
	(
		end=$((SECONDS + 90))
		while [ ! -e /tmp/vanish-stop ] && [ $SECONDS -lt $end ]; do
			timeout 90 dd if=/tmp/pattern of="/dev/$vol" bs=64k oflag=direct status=none || exit 1
		done
		[ -e /tmp/vanish-stop ]
	) &
	local w=$!
	sleep 0.5
	victim=v$((n - 1)) vk=$(kname v$((n - 1))) good=/dev/mapper/v0
	run dmsetup wipe_table "$victim"
	sleep 2
	touch /tmp/vanish-stop
	wait $w || fail "writer failed or hung"
	log "ok: the writer completed"
	check_mdmon "$ctr"
	if ! gone_within "$vol" "$vk" 20; then
		local st=$(cat "/sys/block/$vol/md/dev-$vk/state" 2>/dev/null)
		[[ $st == *faulty* ]] || fail "$vk still in $vol and not faulty (state '$st')"
		[ "$IMPL" = rs ] && fail "$vk faulty ('$st') but not removed from $vol"
		differs "vanish-raid$level c: $vk failed in md ('$st') but still in $vol after 20 s (ours removes it)"
	fi
	failed_recorded "$good" || fail "no failed disk recorded on $good"
	check_eq "$(map_state "$good")" degraded "map state on $good"
	cmp -n $((16 * 1048576)) /tmp/pattern "/dev/$vol" >/dev/null || fail "data differs after the loss"
	log "ok: data intact after the loss"
	dd if=/dev/urandom of=/tmp/pattern2 bs=1M count=4 status=none
	timeout 60 dd if=/tmp/pattern2 of="/dev/$vol" bs=1M seek=4 oflag=direct conv=notrunc status=none \
		|| fail "degraded write failed"
	cmp -n $((4 * 1048576)) /tmp/pattern2 <(dd if="/dev/$vol" bs=1M skip=4 count=4 iflag=direct status=none) \
		|| fail "degraded data differs"
	log "ok: degraded writes served"
	check_mdmon "$ctr"
	run mdadm --wait-clean "/dev/$vol"
	teardown "$vol"
}

# (c) kill -9 at random moments during a rebuild with a writer running.
sc_kill_rebuild() {
	local disks spare vol ctr victim t0 k other
	disks=$(mkdisks 3 80)
	spare=$(echo "$disks" | tail -n1)
	disks=$(echo "$disks" | head -n 2)
	vol=$(IMSM_SIZE=40M imsm_create vol0 1 2 $disks)
	ctr=$(md_name /dev/md/imsm0)
	check_mdmon "$ctr"
	echo 0.05 > "/sys/block/$vol/md/safe_mode_delay"
	dd if=/dev/urandom of=/tmp/fill bs=1M count=40 status=none
	run dd if=/tmp/fill of="/dev/$vol" bs=1M oflag=direct status=none
	victim=$(members "$vol" | head -n1)
	run mdadm "/dev/$vol" --fail "/dev/$victim"
	gone_within "$vol" "$victim" 10 || fail "$victim not removed"
	run mdadm /dev/md/imsm0 --remove "/dev/$victim"
	# About 80 s of rebuild for 40 MiB, longer than the kills take.
	echo 500 > /proc/sys/dev/raid/speed_limit_min
	echo 500 > /proc/sys/dev/raid/speed_limit_max
	writer "$vol" 8 100 400 &
	local w=$!
	run mdadm /dev/md/imsm0 --add "$spare"
	t0=$(date +%s)
	local in_rebuild=0
	for ((k = 1; k <= KILLS; k++)); do
		random_sleep 200 1300
		[ "$(cat "/sys/block/$vol/md/sync_action")" = recover ] && in_rebuild=$((in_rebuild + 1))
		kill9 "$ctr"
	done
	# The premise: most kills hit the rebuild.
	[ $in_rebuild -ge $(((KILLS + 1) / 2)) ] || fail "only $in_rebuild of $KILLS kills during the rebuild"
	local during=$(awk '{print $1}' "/sys/block/$vol/md/sync_completed")
	log "after $KILLS kills: sync_action $(cat /sys/block/$vol/md/sync_action), sync_completed $during"
	echo 200000 > /proc/sys/dev/raid/speed_limit_max
	stop_writer $w
	wait_idle "/dev/$vol" 180 || fail "rebuild did not finish"
	run mdadm --wait-clean "/dev/$vol"
	check_mdmon "$ctr"
	check_eq "$(cat /sys/block/$vol/md/degraded)" 0 "kernel degraded count"
	check_eq "$(map_state "$spare")" normal "map state on the rebuilt disk"
	check_attr "/dev/$vol" "dev-${spare#/dev/}/state" 'in_sync*'
	verify_last_pass "$vol" 8 "both members"
	cmp -n $((40 * 1048576 - 8388608)) -i 8388608 /tmp/fill "/dev/$vol" >/dev/null || fail "fill beyond the writer's chunks differs"
	# The rebuilt disk alone.
	other=$(members "$vol" | grep -v "${spare#/dev/}")
	run mdadm "/dev/$vol" --fail "/dev/$other"
	gone_within "$vol" "$other" 10 || fail "$other not removed"
	verify_last_pass "$vol" 8 "the rebuilt disk alone"
	cmp -n $((40 * 1048576 - 8388608)) -i 8388608 /tmp/fill "/dev/$vol" >/dev/null || fail "rebuilt disk: fill differs"
	log "ok: the rebuilt disk alone holds all 40 MiB"
	figures "kill-rebuild $IMPL: $KILLS kills ($in_rebuild while md recovered) in $(($(date +%s) - t0)) s (rebuild at sector ${during:-?} after them)," \
		"rebuild finished, not degraded, $PASSES writer passes of 8 MiB verified, 40 MiB read back from the rebuilt disk alone"
}

# (d1) kill -9 around dirty/clean transitions: writes with pauses around the
# safe-mode delay (50 ms).
sc_kill_dirty() {
	local k
	raid1_clean_fast
	writer "$VOL" 4 20 100 &
	local w=$!
	for ((k = 1; k <= KILLS; k++)); do
		random_sleep 100 900
		kill9 "$CTR"
	done
	stop_writer $w
	wait_for "/sys/block/$VOL/md/array_state" clean 30 || fail "not clean after the kills"
	run mdadm --wait-clean "/dev/$VOL"
	check_mdmon "$CTR"
	check_eq "$(cat /sys/block/$VOL/md/degraded)" 0 "kernel degraded count"
	local d
	for d in $DISKS; do
		check_eq "$(dirty_state "$d")" clean "Dirty State on $d"
		check_eq "$(map_state "$d")" normal "map state on $d"
	done
	verify_last_pass "$VOL" 4 "after the kills"
	figures "kill-dirty $IMPL: $KILLS kills, $PASSES writer passes of 4 MiB (1 MiB writes 20-120 ms apart) verified, clean on both disks"
}

# (d2) kill -9 during socket updates: a second, stopped volume renamed 20
# times (mdadm sends each rename as a metadata update through the socket of
# the mdmon serving the container), each with a kill 0-0.3 s after it began.
vol1_name() { mdadm --examine "$1" | awk '/^ *\[.*\]:$/ {n++; if (n == 2) {sub(/^ *\[/, ""); sub(/\]:$/, ""); print; exit}}'; }
sc_kill_update() {
	local k rc name okname=vol1 tried=() d
	raid1_clean_fast
	run mdadm -CR /dev/md/vol1 -l 0 -n 2 /dev/md/imsm0 -z 8M
	run mdadm --stop /dev/md/vol1
	for ((k = 1; k <= KILLS; k++)); do
		name=r$k
		( random_sleep 0 300; kill9 "$CTR" ) &
		local killer=$!
		timeout 60 mdadm --update-subarray=1 --update=name -N "$name" /dev/md/imsm0 >/dev/null 2>&1
		rc=$?
		[ $rc = 124 ] && fail "mdadm --update-subarray hung (round $k)"
		wait $killer || fail "kill $k failed"
		if [ $rc = 0 ]; then okname=$name tried=(); else tried+=("$name"); fi
	done
	check_mdmon "$CTR"
	# Every disk holds the same name: the last accepted one or one tried after it.
	local first
	first=$(vol1_name "$(echo "$DISKS" | head -n1)")
	for d in $DISKS; do check_eq "$(vol1_name "$d")" "$first" "second volume's name on $d"; done
	[[ " $okname ${tried[*]} " == *" $first "* ]] || fail "name '$first' is neither the last accepted ($okname) nor tried after it"
	log "ok: name '$first' (last accepted '$okname', ${#tried[@]} refused after it)"
	# With no kill: a rename reaches every disk.
	run mdadm --update-subarray=1 --update=name -N final /dev/md/imsm0
	for d in $DISKS; do check_eq "$(vol1_name "$d")" final "second volume's name on $d"; done
	check_eq "$(cat /sys/block/$VOL/md/degraded)" 0 "kernel degraded count"
	timeout 60 dd if=/dev/zero of="/dev/$VOL" bs=64k count=1 oflag=direct status=none || fail "write after the updates"
	wait_for "/sys/block/$VOL/md/array_state" clean 30 || fail "not clean after the updates"
	for d in $DISKS; do
		check_eq "$(dirty_state "$d")" clean "Dirty State on $d"
		check_eq "$(map_state "$d")" normal "map state on $d"
	done
	check_mdmon "$CTR"
	figures "kill-update $IMPL: $KILLS renames, each with a kill 0-0.3 s after it began; last accepted ${okname}, ${#tried[@]} refused after it; all disks agree ('$first'), a later rename reaches every disk, the volume clean and normal"
}

# (e) fds 0-2 closed at start: they point at /dev/null, no disk or sysfs file.
sc_std_fds() {
	raid1_clean_fast
	local old=$(mdmon_pid "$CTR") p f t bad=""
	/usr/sbin/mdmon --foreground --takeover "$CTR" <&- >&- 2>&- &
	p=$!
	new_mdmon "$CTR" "$old" >/dev/null || fail "no new mdmon"
	sleep 1
	for f in 0 1 2; do
		t=$(readlink "/proc/$p/fd/$f")
		[ "$t" = /dev/null ] || bad+=" fd$f=${t:-closed}"
	done
	if [ -n "$bad" ]; then
		[ "$IMPL" = c ] && differs "std-fds c: started with fds 0-2 closed:$bad" || fail "fds 0-2:$bad"
	else
		log "ok: fds 0-2 on /dev/null"
	fi
	dd if=/dev/zero of="/dev/$VOL" bs=4k count=1 oflag=direct status=none
	wait_for "/sys/block/$VOL/md/array_state" clean 30 || fail "not clean"
	check_mdmon "$CTR"
}

# (f) `mdmon --all` over two containers; one container stops: its child
# exits, nothing forks again, the other keeps being served.
sc_all_children() {
	local d1 d2 v1 v2 c1 c2 p1 p2 n
	d1=$(mkdisks 2 64 diska)
	d2=$(mkdisks 2 64 diskb)
	v1=$(imsm_create vol0 1 2 $d1)
	v2=$(IMSM_CONTAINER=imsm1 imsm_create vol1 1 2 $d2)
	c1=$(md_name /dev/md/imsm0) c2=$(md_name /dev/md/imsm1)
	check_mdmon "$c1"; check_mdmon "$c2"
	p1=$(mdmon_pid "$c1") p2=$(mdmon_pid "$c2")
	run /usr/sbin/mdmon --takeover --all
	p1=$(new_mdmon "$c1" "$p1") || fail "no new mdmon for $c1"
	p2=$(new_mdmon "$c2" "$p2") || fail "no new mdmon for $c2"
	check_mdmon "$c1"; check_mdmon "$c2"
	# Stop the container `--all` started first (listed first in mdstat):
	# a child returning into the fork loop would start the next one again.
	if [ "$(grep -m1 -oE "^($c1|$c2) " /proc/mdstat)" = "$c2 " ]; then
		local t=$c1 tp=$p1 tv=$v1
		c1=$c2 p1=$p2 v1=$v2 c2=$t p2=$tp v2=$tv
	fi
	log "stopping $c1 (pid $p1), keeping $c2 (pid $p2)"
	run mdadm --stop "/dev/$v1"
	run mdadm --stop "/dev/$c1"
	local i
	for i in $(seq 100); do [ -e "/proc/$p1" ] || break; sleep 0.1; done
	[ -e "/proc/$p1" ] && fail "mdmon $p1 of the stopped container still runs"
	log "ok: the stopped container's mdmon exited"
	sleep 3
	n=$(pgrep -x mdmon | wc -l)
	check_eq "$n" 1 "mdmon processes 3 s later"
	check_eq "$(pgrep -x mdmon)" "$p2" "the one left serves $c2"
	dd if=/dev/zero of="/dev/$v2" bs=4k count=1 oflag=direct status=none
	wait_for "/sys/block/$v2/md/array_state" clean 30 || fail "$c2's volume not clean"
	rm -f /tmp/diska*.img /tmp/diskb*.img
}

# scenario NAME FUNCTION ARGS...: run it unless ONLY names others (then 1).
scenario() { [ -z "${ONLY:-}" ] || [[ " $ONLY " == *" $1 "* ]] || return 1; ONLY='' run_scenario "$@"; }
for IMPL in $IMPLS; do
	use_impl "$IMPL"
	for s in "meta-fail-raid1 sc_meta_fail 1 2" "meta-fail-raid5 sc_meta_fail 5 3" \
		"vanish-raid1 sc_vanish 1 2" "vanish-raid5 sc_vanish 5 3"; do
		# shellcheck disable=SC2086
		scenario $s && cleanup_dm
	done
	scenario kill-rebuild sc_kill_rebuild
	scenario kill-dirty sc_kill_dirty
	scenario kill-update sc_kill_update
	scenario std-fds sc_std_fds
	scenario all-children sc_all_children
done
finish faults
