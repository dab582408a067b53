#!/bin/bash
# Run INSIDE the chroot by tests/vm/boot-systemd.sh: turns the minimal
# Debian root (mmdebstrap: systemd, udev, mdadm, initramfs-tools) into the
# boot test's root: the mdmon-rs package installed (its postinst builds the
# initramfs with mdmon-rs), then Debian's mdadm package reinstalled (what an
# upgrade does; its trigger rebuilds the initramfs), the test's check
# service, small images.
# usage: setup-root.sh DIR KVER UUID (DIR holds the two .debs and these files)
set -euo pipefail
D=$1 KVER=$2 UUID=$3
export DEBIAN_FRONTEND=noninteractive PATH=/usr/sbin:/usr/bin:/sbin:/bin
printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
chmod 755 /usr/sbin/policy-rc.d
printf 'MODULES=list\n' > /etc/initramfs-tools/conf.d/zz-mdmon-rs-test
printf '%s\n' virtio_pci virtio_blk ext4 md_mod raid1 >> /etc/initramfs-tools/modules
update-initramfs -c -k "$KVER"
dpkg -i "$D"/mdmon-rs_*_amd64.deb
dpkg -i "$D"/mdadm_*.deb
/sbin/mdmon --version | grep '^mdmon-rs ' || { echo "setup-root.sh: mdadm's reinstall replaced /sbin/mdmon" >&2; exit 1; }
rm -f /usr/sbin/policy-rc.d
echo "UUID=$UUID / ext4 defaults 0 0" > /etc/fstab
echo 0123456789abcdef0123456789abcdef > /etc/machine-id
echo sroot > /etc/hostname
# No Intel platform in the VM, no serial numbers on virtio disks: for
# services (mdmon@) and for what udev runs (mdadm --incremental).
mkdir -p /etc/systemd/system.conf.d /etc/udev/rules.d
printf '[Manager]\nDefaultEnvironment=IMSM_NO_PLATFORM=1 IMSM_DEVNAME_AS_SERIAL=1\n' > /etc/systemd/system.conf.d/imsm-test.conf
cp "$D/imsm-test.rules" /etc/udev/rules.d/00-imsm-test.rules
install -m755 "$D/boot-check" /usr/local/sbin/boot-check
cp "$D/boot-check.service" /etc/systemd/system/
install -D -m755 "$D/shutdown-check" /usr/lib/systemd/system-shutdown/boot-check
ln -sf /etc/systemd/system/boot-check.service /etc/systemd/system/multi-user.target.wants/boot-check.service
ln -sf /lib/systemd/system/multi-user.target /etc/systemd/system/default.target
ln -sf /dev/null /etc/systemd/system/serial-getty@ttyS0.service
ln -sf /dev/null /etc/systemd/system/getty@tty1.service
# Smaller: no documentation, locales or apt lists.
rm -rf /usr/share/doc/* /usr/share/man/* /usr/share/locale/* /var/lib/apt/lists/* /var/cache/apt/*
