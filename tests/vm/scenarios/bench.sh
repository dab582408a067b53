#!/bin/bash
# Benchmark (prints figures; not a pass/fail test): the write-pending round
# trip (median latency of a 4 KiB O_DIRECT write to a clean array) with
# Debian's C mdmon and with ours, for a 2-disk RAID1 and a 4-disk RAID5,
# plus both daemons' VmRSS/VmLck and our binary's size.
. "$VM_REPO/tests/vm/lib.sh"
RS_BIN=$VM_REPO/target/x86_64-unknown-linux-musl/release/mdmon
BENCH=$VM_REPO/target/x86_64-unknown-linux-musl/release/examples/wp_latency
C_BIN=/run/mdmon.c
ROUNDS=${ROUNDS:-40}
[ -e "$C_BIN" ] || cp /usr/sbin/mdmon "$C_BIN"
RESULTS=${VM_OUT:-/tmp}/bench.txt
: > "$RESULTS"

bench_one() { # IMPL LEVEL N
	local impl=$1 level=$2 n=$3 disks vol ctr pid line
	case $impl in c) cp "$C_BIN" /usr/sbin/mdmon ;; rs) cp "$RS_BIN" /usr/sbin/mdmon ;; esac
	disks=$(mkdisks "$n" 64)
	vol=$(imsm_create vol0 "$level" "$n" $disks)
	ctr=$(md_name /dev/md/imsm0)
	wait_for "/run/mdadm/$ctr.pid" '[0-9]*' 10 || { echo "no mdmon"; return 1; }
	pid=$(mdmon_pid "$ctr")
	echo 0.05 > "/sys/block/$vol/md/safe_mode_delay"
	# A new volume is read-auto; one write makes it active, then it idles clean.
	dd if=/dev/zero of="/dev/$vol" bs=4k count=1 oflag=direct status=none
	wait_for "/sys/block/$vol/md/array_state" clean 30
	line=$("$BENCH" "/dev/$vol" "$ROUNDS" | tail -n1)
	local rss lck
	rss=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
	lck=$(awk '/VmLck/ {print $2}' "/proc/$pid/status")
	echo "impl=$impl level=raid$level disks=$n $line vmrss_kib=$rss vmlck_kib=$lck" | tee -a "$RESULTS"
	cleanup_md
}

for cfg in "1 2" "5 4"; do
	for impl in c rs; do
		bench_one $impl $cfg
	done
done
echo "binary_bytes=$(stat -c %s "$RS_BIN")" | tee -a "$RESULTS"
# Ratios of the medians (ours / C) per configuration.
for lvl in raid1 raid5; do
	c=$(awk -v l=$lvl '$1=="impl=c" && $2=="level="l {sub("median_us=","",$4); print $4}' "$RESULTS")
	r=$(awk -v l=$lvl '$1=="impl=rs" && $2=="level="l {sub("median_us=","",$4); print $4}' "$RESULTS")
	[ -n "$c" ] && [ -n "$r" ] && echo "ratio $lvl ours/C = $(echo "scale=2; $r / $c" | bc)" | tee -a "$RESULTS"
done
exit 0
