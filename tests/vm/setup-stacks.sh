#!/bin/bash
# The newer field stacks for the test matrix, on a Debian 12 machine (root):
#  - kernel 6.12 from Debian's bookworm-backports suite, beside 6.1;
#  - upstream mdadm 4.4 (the orig tarball of Debian 13's source package, with
#    its tests/), built into tests/vm/cache/mdadm-4.4 (gitignored).
# The archive URI and key are those of this machine's existing Debian entry
# (nothing is hard-coded). Idempotent; quick when everything is present.
# usage: tests/vm/setup-stacks.sh [kernel] [mdadm]   (default: both)
set -euo pipefail
VMDIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
MDADM_VER=4.4
CACHE=$VMDIR/cache
SRCS=/etc/apt/sources.list.d
BPO_LIST=$SRCS/mdmon-rs-backports.sources
TRIXIE_SRC=$SRCS/mdmon-rs-trixie-src.sources
PIN=/etc/apt/preferences.d/mdmon-rs-backports
export DEBIAN_FRONTEND=noninteractive
want=${*:-kernel mdadm}

# The URI and Signed-By of the Debian archive entry for bookworm (deb822
# files first, then the one-line format).
debian_entry() {
	local f
	for f in "$SRCS"/*.sources; do
		[ -e "$f" ] || continue
		case $f in "$BPO_LIST" | "$TRIXIE_SRC") continue ;; esac
		awk 'BEGIN { RS = ""; FS = "\n" }
		{
			types = uris = suites = sb = ""
			for (i = 1; i <= NF; i++) {
				if ($i ~ /^#/) continue
				split($i, kv, ":[ \t]*")
				k = tolower(kv[1]); v = substr($i, length(kv[1]) + 2); sub(/^[ \t]+/, "", v)
				if (k == "types") types = v; else if (k == "uris") uris = v
				else if (k == "suites") suites = v; else if (k == "signed-by") sb = v
			}
			if (tolower($0) ~ /enabled:[ \t]*no/) next
			if ((" " types " ") ~ / deb / && (" " suites " ") ~ / bookworm / && uris != "") {
				split(uris, u, " "); print u[1] "\t" sb; exit
			}
		}' "$f" | grep . && return 0
	done
	for f in /etc/apt/sources.list "$SRCS"/*.list; do
		[ -e "$f" ] || continue
		awk '$1 == "deb" {
			sb = ""; i = 2
			if ($2 ~ /^\[/) { for (; i <= NF; i++) { if ($i ~ /signed-by=/) { sb = $i; sub(/.*signed-by=/, "", sb); sub(/\]$/, "", sb) } if ($i ~ /\]$/) break } i++ }
			if ($(i + 1) == "bookworm") { print $i "\t" sb; exit }
		}' "$f" | grep . && return 0
	done
	return 1
}

write_if_changed() { # FILE (content on stdin): true if it changed
	local tmp
	tmp=$(mktemp)
	cat > "$tmp"
	if [ -e "$1" ] && cmp -s "$tmp" "$1"; then rm -f "$tmp"; return 1; fi
	install -m644 "$tmp" "$1"
	rm -f "$tmp"
}

sources() {
	local entry uri sb changed=
	entry=$(debian_entry) || { echo "setup-stacks: no Debian bookworm entry in /etc/apt/sources.list*" >&2; exit 1; }
	uri=${entry%%$'\t'*}
	sb=${entry#*$'\t'}
	stanza() { # TYPES SUITE
		echo "# Added by mdmon-rs tests/vm/setup-stacks.sh (URI copied from this machine's Debian entry)"
		echo "Types: $1"
		echo "URIs: $uri"
		echo "Suites: $2"
		echo "Components: main"
		[ -n "$sb" ] && echo "Signed-By: $sb"
		return 0
	}
	stanza deb bookworm-backports | write_if_changed "$BPO_LIST" && changed=1
	stanza deb-src trixie | write_if_changed "$TRIXIE_SRC" && changed=1
	# Nothing is upgraded from backports unless asked for by name.
	printf 'Package: *\nPin: release n=bookworm-backports\nPin-Priority: 100\n' \
		| write_if_changed "$PIN" && changed=1
	if [ -n "$changed" ] || [ -n "${FORCE_UPDATE:-}" ]; then apt-get update -q; fi
	return 0
}

kernel() {
	ls /boot/vmlinuz-6.12.*-amd64 >/dev/null 2>&1 && return 0
	sources
	# The versioned image package the backports meta-package points to: the
	# meta-package itself stays on 6.1 (and keeps 6.1 installed).
	local img
	img=$(apt-cache show -a linux-image-amd64 2>/dev/null | awk -v RS= '/\nVersion: 6\.12\./' \
		| sed -n 's/^Depends: .*\(linux-image-6\.12\.[^ ,]*-amd64\).*/\1/p' | sort -V | tail -n1)
	[ -n "$img" ] || { echo "setup-stacks: no 6.12 linux-image-amd64 in bookworm-backports" >&2; exit 1; }
	echo "setup-stacks: installing $img from bookworm-backports"
	# By name and without -t: with -t apt also moves the meta-package to
	# backports. The 6.1 image is kept from autoremove.
	apt-mark manual 'linux-image-6.1.*-amd64' >/dev/null 2>&1 || true
	apt-get install -y -q "$img"
	ls /boot/vmlinuz-6.12.*-amd64
}

mdadm_build() {
	local dir=$CACHE/mdadm-$MDADM_VER src=$CACHE/src
	if [ -x "$dir/mdadm" ] && [ -x "$dir/mdmon" ] && [ -x "$dir/test" ] && [ -d "$dir/tests" ]; then return 0; fi
	local deps=(build-essential pkg-config libudev-dev xz-utils)
	local missing=() p
	for p in "${deps[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
	done
	[ ${#missing[@]} -gt 0 ] && apt-get install -y -q "${missing[@]}"
	mkdir -p "$src"
	local tarball=$src/mdadm_$MDADM_VER.orig.tar.xz
	if [ ! -s "$tarball" ]; then
		sources
		# The whole source package when its .dsc is there.
		(cd "$src" && apt-get source -q --download-only "mdadm/trixie") \
			|| echo "setup-stacks: apt-get source failed; fetching the orig tarball alone"
		if [ ! -s "$tarball" ]; then
			# Its URI and checksum from the trixie Sources index, fetched by
			# apt's own downloader (which checks the hash).
			local line uri hash
			line=$(apt-get source -q --print-uris "mdadm/trixie" 2>/dev/null | grep "mdadm_$MDADM_VER.orig.tar.xz" | head -n1) || true
			uri=$(echo "$line" | awk '{print $1}' | tr -d "'")
			hash=$(echo "$line" | awk '{print $4}')
			if [ -z "$uri" ]; then
				# Sources index without the entry: the pool path in the same archive.
				local entry
				entry=$(debian_entry)
				uri=${entry%%$'\t'*}/pool/main/m/mdadm/mdadm_$MDADM_VER.orig.tar.xz
				hash=
			fi
			echo "setup-stacks: downloading $uri"
			/usr/lib/apt/apt-helper download-file "$uri" "$tarball.part" ${hash:+"$hash"}
			mv "$tarball.part" "$tarball"
		fi
	fi
	rm -rf "$dir.build"
	mkdir -p "$dir.build"
	tar -xJf "$tarball" -C "$dir.build" --strip-components=1
	# CWFLAGS: upstream's -Werror trips over newer/older compilers' warnings.
	make -C "$dir.build" -j"$(nproc)" CWFLAGS="-Wall" mdadm mdmon >"$CACHE/mdadm-$MDADM_VER.build.log" 2>&1 \
		|| { tail -n 30 "$CACHE/mdadm-$MDADM_VER.build.log" >&2; exit 1; }
	rm -rf "$dir"
	mv "$dir.build" "$dir"
	"$dir/mdadm" --version
}

for w in $want; do
	case $w in
	kernel) kernel ;;
	mdadm) mdadm_build ;;
	sources) sources ;;
	*) echo "usage: $0 [kernel] [mdadm]" >&2; exit 2 ;;
	esac
done
