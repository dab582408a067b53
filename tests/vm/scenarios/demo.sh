#!/bin/bash
# Demo: an IMSM RAID1 kept writable by our mdmon, narrated.
. "$VM_REPO/tests/vm/lib.sh"
RS_BIN=$VM_REPO/target/x86_64-unknown-linux-musl/release/mdmon
say() { echo; echo ">>> $*"; }
field() { mdadm --examine "$1" | sed -n "s/^ *$2 : //p" | head -n1; }

say "Installing our mdmon ($(stat -c %s "$RS_BIN") bytes, static) as /usr/sbin/mdmon; mdadm starts it itself."
cp "$RS_BIN" /usr/sbin/mdmon
mapfile -t D < <(mkdisks 2 64)
say "Creating an IMSM container and a RAID1 volume on ${D[*]} with Debian's mdadm."
vol=$(imsm_create vol0 1 2 "${D[@]}" 2>/dev/null)
ctr=$(md_name /dev/md/imsm0)
pid=$(mdmon_pid "$ctr")
say "mdadm launched mdmon: pid $pid, $(tr '\0' ' ' < /proc/$pid/cmdline); socket /run/mdadm/$ctr.sock"
grep -E 'VmRSS|VmLck' /proc/$pid/status | sed 's/^/    /'
say "The volume $vol is '$(cat /sys/block/$vol/md/array_state)'; metadata says '$(field "${D[0]}" 'Dirty State')'."
echo 2 > /sys/block/$vol/md/safe_mode_delay
say "Writing 64 KiB. The kernel stops the write in write-pending until mdmon records the array dirty on both disks."
dd if=/dev/urandom of=/tmp/data bs=64k count=1 status=none
t0=$(date +%s%N)
dd if=/tmp/data of=/dev/$vol bs=64k count=1 oflag=direct status=none
t1=$(date +%s%N)
say "The write (dd, including its start-up under emulation) returned after $(( (t1 - t0) / 1000 )) us; array_state is '$(cat /sys/block/$vol/md/array_state)', metadata: '$(field "${D[0]}" 'Dirty State')' on ${D[0]}, '$(field "${D[1]}" 'Dirty State')' on ${D[1]}."
say "Waiting for the safe-mode delay (2 s) to pass..."
wait_for /sys/block/$vol/md/array_state clean 20
sleep 0.3
say "Idle again: array_state '$(cat /sys/block/$vol/md/array_state)', metadata '$(field "${D[0]}" 'Dirty State')' (generation $(field "${D[0]}" Generation))."
cmp -n 65536 /tmp/data /dev/$vol && say "The data reads back intact."
say "mdmon's log (kernel log):"
dmesg | grep 'mdmon\[' | sed 's/^/    /'
say "Stopping the volume: mdmon records it clean and exits."
mdadm --stop /dev/md/vol0 2>/dev/null
sleep 1
kill -0 "$pid" 2>/dev/null && echo "    mdmon still running" || echo "    mdmon exited"
mdadm --stop /dev/md/imsm0 2>/dev/null
say "On disk: $(field "${D[0]}" 'Dirty State'). Demo done."
