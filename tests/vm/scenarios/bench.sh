#!/bin/bash
# Benchmark (prints figures; not a pass/fail test), Debian's C mdmon against
# ours, in one boot:
# - write-pending round trip (measure_wp: median latency of a 4 KiB O_DIRECT
#   write to a clean array) on IMSM RAID1 x2, RAID5 x4, RAID5 x8, RAID5 x4
#   with 4 volumes in the container, and DDF RAID5 x4;
# - memory (VmRSS, VmLck) of the daemon serving each of those containers;
#   for ours also the locked size of each mapping (OUT/maps.CFG.txt);
# - idle cost: context switches of all the daemon's threads over IDLE_S
#   seconds with one clean monitored RAID1 and no I/O, both daemons at once.
# Arguments (VAR=value): ROUNDS (default 40), IDLE_S (default 60),
# PARTS (default "wp idle"; "mem" is the memory figures alone, without the
# write-pending rounds, for the mdmons in IMPLS).
for a in "$@"; do export "${a?}"; done
. "$VM_REPO/tests/vm/scenarios/common.sh"
ROUNDS=${ROUNDS:-40}
IDLE_S=${IDLE_S:-60}
PARTS=${PARTS:-"wp idle"}
RESULTS=${VM_OUT:-/tmp}/bench.txt
: > "$RESULTS"
TEST_NAME=bench

mem_of() { awk '/^VmRSS/ {r=$2} /^VmLck/ {l=$2} END {print "vmrss_kib=" r " vmlck_kib=" l}' "/proc/$1/status"; }

# maps_of PID: locked KiB and name of each mapping, largest first.
maps_of() {
	awk '/^[0-9a-f]+-[0-9a-f]+ / {name = ($6 == "" ? "[anon]" : $6); range = $1}
	     /^Locked:/ {if ($2 > 0) printf "%6d KiB  %s %s\n", $2, range, name}' "/proc/$1/smaps" | sort -rn
}

# Make a clean container of format FMT (imsm|ddf) with VOLS volumes of
# LEVEL over N disks, served by the current mdmon. Sets VOL (the first
# volume) and CTR.
make_array() { # FMT LEVEL N VOLS
	local fmt=$1 level=$2 n=$3 vols=$4 disks i v
	disks=$(mkdisks "$n" $((64 * vols)))
	if [ "$fmt" = imsm ]; then
		for ((i = 0; i < vols; i++)); do
			v=$(imsm_create "vol$i" "$level" "$n" $disks) || fail "volume $i not created"
			[ $i = 0 ] && VOL=$v
		done
		CTR=$(md_name /dev/md/imsm0)
	else
		MDADM_NO_MDMON=1 run mdadm -CR /dev/md/ddf0 -e ddf -n "$n" $disks
		for ((i = 0; i < vols; i++)); do
			# shellcheck disable=SC2086
			MDADM_NO_MDMON=1 run mdadm -CR "/dev/md/vol$i" -l "$level" -n "$n" -z 16M --assume-clean $disks
		done
		CTR=$(md_name /dev/md/ddf0)
		VOL=$(md_name /dev/md/vol0)
		run mdmon "$CTR"
	fi
	check_mdmon "$CTR"
	for ((i = 0; i < vols; i++)); do
		v=$(md_name "/dev/md/vol$i")
		echo 0.05 > "/sys/block/$v/md/safe_mode_delay"
		# A new volume is read-auto; one write makes it active, then it idles clean.
		dd if=/dev/zero of="/dev/$v" bs=4k count=1 oflag=direct status=none
		wait_for "/sys/block/$v/md/array_state" clean 30 || fail "$v not clean"
	done
}

bench_wp() { # IMPL CFG FMT LEVEL N VOLS
	local impl=$1 cfg=$2 line pid
	shift 2
	use_impl "$impl"
	( make_array "$@" ) || { echo "impl=$impl cfg=$cfg set-up failed" | tee -a "$RESULTS"; cleanup_md; return 0; }
	CTR=$(md_name "/dev/md/$([ "$1" = imsm ] && echo imsm0 || echo ddf0)")
	VOL=$(md_name /dev/md/vol0)
	pid=$(mdmon_pid "$CTR")
	if [[ $PARTS == *wp* ]]; then
		line=$(measure_wp "$VOL" "$ROUNDS") || line="no measurement: $line"
	else
		line="wp=skipped"
	fi
	echo "impl=$impl cfg=$cfg $line $(mem_of "$pid")" | tee -a "$RESULTS"
	maps_of "$pid" > "${VM_OUT:-/tmp}/maps.$impl.$cfg.txt"
	cleanup_md
}

# ctxsw_of PID: "TID:COMM:SWITCHES" per thread (voluntary + nonvoluntary).
ctxsw_of() {
	local t
	for t in /proc/"$1"/task/*; do
		awk -v tid="${t##*/}" '/^Name:/ {n=$2} /^(non)?voluntary_ctxt_switches:/ {s+=$2} END {print tid ":" n ":" s}' "$t/status"
	done
}

# Both daemons at once, each serving one clean RAID1 (containers imsm0: C,
# imsm1: ours), left alone for IDLE_S seconds.
bench_idle() {
	local impl ctr pid before after total t n x line
	declare -A pids
	for impl in c rs; do
		# The other daemon runs from /usr/sbin/mdmon: replace, not overwrite.
		rm -f /usr/sbin/mdmon
		use_impl "$impl"
		(
			disks=$(mkdisks 2 64 "disk$impl")
			v=$(IMSM_CONTAINER=imsm_$impl imsm_create "idle_$impl" 1 2 $disks)
			check_mdmon "$(md_name "/dev/md/imsm_$impl")"
			echo 0.05 > "/sys/block/$v/md/safe_mode_delay"
			dd if=/dev/zero of="/dev/$v" bs=4k count=1 oflag=direct status=none
			wait_for "/sys/block/$v/md/array_state" clean 30 || fail "$v not clean"
		) || { echo "idle set-up failed ($impl)" | tee -a "$RESULTS"; cleanup_md; return 0; }
		pids[$impl]=$(mdmon_pid "$(md_name "/dev/md/imsm_$impl")")
	done
	sleep 3
	declare -A before
	for impl in c rs; do before[$impl]=$(ctxsw_of "${pids[$impl]}"); done
	sleep "$IDLE_S"
	for impl in c rs; do
		after=$(ctxsw_of "${pids[$impl]}")
		total=0 line=
		for t in $after; do
			x=$(echo "${before[$impl]}" | awk -F: -v tid="${t%%:*}" '$1 == tid {print $3}')
			n=$((${t##*:} - ${x:-0}))
			total=$((total + n))
			line+=" ${t#*:}"
			line=${line%:*}:$n
		done
		echo "impl=$impl idle_s=$IDLE_S wakeups=$total wakeups_per_min=$((total * 60 / IDLE_S)) threads=$(echo "$after" | wc -w)$line" \
			| tee -a "$RESULTS"
	done
	cleanup_md
}

if [[ $PARTS == *wp* || $PARTS == *mem* ]]; then
	for cfg in "imsm-raid1x2 imsm 1 2 1" "imsm-raid5x4 imsm 5 4 1" "imsm-raid5x8 imsm 5 8 1" \
		"imsm-raid5x4-4vols imsm 5 4 4" "ddf-raid5x4 ddf 5 4 1"; do
		for impl in $IMPLS; do
			# shellcheck disable=SC2086
			bench_wp $impl $cfg
		done
	done
fi
[[ $PARTS == *idle* ]] && bench_idle
echo "binary_bytes=$(stat -c %s "$RS_BIN")" | tee -a "$RESULTS"
# Ratios of the medians (ours / C) per configuration.
for cfg in $(awk '{sub("cfg=", "", $2); if ($1 ~ /^impl=/ && $3 ~ /^median/) print $2}' "$RESULTS" | sort -u); do
	c=$(awk -v c="cfg=$cfg" '$1 == "impl=c" && $2 == c {sub("median_us=", "", $3); print $3}' "$RESULTS")
	r=$(awk -v c="cfg=$cfg" '$1 == "impl=rs" && $2 == c {sub("median_us=", "", $3); print $3}' "$RESULTS")
	[ -n "$c" ] && [ -n "$r" ] && echo "ratio $cfg ours/C = $(echo "scale=2; $r / $c" | bc)" | tee -a "$RESULTS"
done
exit 0
