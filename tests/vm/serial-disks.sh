#!/bin/bash
# usage: tests/vm/serial-disks.sh DIR
# Makes three sparse 64 MiB disk images in DIR and prints the qemu arguments
# (for VM_QEMU_ARGS) that attach them as virtio-scsi disks with serial
# numbers, so IMSM can name them by their real serial (the guest reads it
# from the SCSI unit serial page, as on hardware). The serials contain a ':'
# that IMSM stores as ';'.
set -eu
dir=$1
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
args="-device virtio-scsi-pci,id=scsi0"
for i in 0 1 2; do
	rm -f "$dir/s$i.img"
	truncate -s 64M "$dir/s$i.img"
	args+=" -drive if=none,id=s$i,file=$dir/s$i.img,format=raw,cache=unsafe"
	args+=" -device scsi-hd,bus=scsi0.0,drive=s$i,serial=MDRS:SER-00$i"
done
echo "$args"
