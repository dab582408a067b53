#!/bin/bash
# Print the newest installed Debian kernel image of a series.
# usage: tests/vm/kernel.sh SERIES   (e.g. 6.1 for Debian 12's, 6.12 for bookworm-backports')
series=${1:-6.1}
k=$(ls /boot/vmlinuz-"$series".*-amd64 2>/dev/null | sort -V | tail -n1)
[ -n "$k" ] || { echo "kernel.sh: no /boot/vmlinuz-$series.*-amd64 installed (tests/vm/setup.sh)" >&2; exit 1; }
echo "$k"
