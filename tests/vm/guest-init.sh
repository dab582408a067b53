#!/bin/bash
# PID 1 inside the test VM (after switch_root into the overlay of the host
# root). Sets up the environment, loads md modules, runs the command from
# /out/cmd and records its exit status in /out/rc, then powers off.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root TERM=dumb LANG=C.UTF-8
export MDADM_NO_SYSTEMCTL=1 IMSM_NO_PLATFORM=1 IMSM_DEVNAME_AS_SERIAL=1
mountpoint -q /proc || mount -t proc proc /proc
mountpoint -q /sys || mount -t sysfs sysfs /sys
mountpoint -q /dev || mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
ln -sf /proc/self/fd /dev/fd
ln -sf /proc/self/fd/0 /dev/stdin
ln -sf /proc/self/fd/1 /dev/stdout
ln -sf /proc/self/fd/2 /dev/stderr
mount -t devpts devpts /dev/pts 2>/dev/null
mount -t tmpfs tmpfs /dev/shm
mount -t tmpfs -o mode=0755 tmpfs /run
mount -t tmpfs -o mode=1777 tmpfs /tmp
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
mkdir -p /run/mdadm /run/lock
echo "=== guest-init: uptime $(cut -d' ' -f1 /proc/uptime)s, kernel $(uname -r)"
modprobe -a md-mod raid0 raid1 raid10 raid456 loop dm-mod dm-flakey || echo "guest-init: modprobe failed"
# quieter console: keep kernel messages (md etc.) but at warning level+
echo 4 > /proc/sys/kernel/printk

poweroff_now() { sync; echo o > /proc/sysrq-trigger; sleep 30; }
if [ ! -r /out/cmd ]; then
	echo "guest-init: /out/cmd missing"; poweroff_now
fi
# /out/cmd sets VM_REPO and the positional parameters (script + args)
. /out/cmd
export VM_REPO VM_OUT=/out
cd "$VM_REPO" || cd /
if [ "${VM_SYSTEMD:-}" = 1 ]; then
	# Hand PID 1 to systemd; the script runs as a oneshot service (nothing
	# else is started: no udev, no journald) that records its status and
	# powers off.
	printf '%q ' "$@" > /etc/vm-test.args
	cat > /etc/systemd/system/vm-test.service <<EOS
[Unit]
Description=VM test script
DefaultDependencies=no
[Service]
Type=oneshot
Environment=VM_REPO=$VM_REPO VM_OUT=/out PATH=$PATH HOME=/root LANG=C.UTF-8
ExecStart=/bin/bash -c 'echo "=== guest-init: running under systemd (uptime \$(cut -d" " -f1 /proc/uptime)s)"; eval bash \$(cat /etc/vm-test.args) </dev/null; rc=\$?; echo "=== guest-init: exit status \$rc"; echo \$rc > /out/rc.tmp && mv /out/rc.tmp /out/rc; sync; echo o > /proc/sysrq-trigger'
StandardOutput=tty
StandardError=tty
TTYPath=/dev/ttyS0
EOS
	cat > /etc/systemd/system/vm-test.target <<EOS
[Unit]
Description=VM test
DefaultDependencies=no
Wants=vm-test.service
EOS
	ln -sf vm-test.target /etc/systemd/system/default.target
	exec /lib/systemd/systemd --system --log-target=console --log-level=warning
fi
echo "=== guest-init: running $* (uptime $(cut -d' ' -f1 /proc/uptime)s)"
bash "$@" </dev/null
rc=$?
echo "=== guest-init: exit status $rc (uptime $(cut -d' ' -f1 /proc/uptime)s)"
echo "$rc" > /out/rc.tmp && mv /out/rc.tmp /out/rc
poweroff_now
