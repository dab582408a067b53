#!/bin/bash
# Placeholder test runner: build the static binary, run VM tests, summarize.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-tests/vm/out}
mkdir -p "$OUT"
pass=0 failn=0 failed=()

echo "=== build"
if cargo build --release --target x86_64-unknown-linux-musl; then
	pass=$((pass + 1)); echo "=== build: PASS"
else
	failn=$((failn + 1)); failed+=(build); echo "=== build: FAIL"
fi

vmtest() { # vmtest NAME GUEST_SCRIPT [ARGS...]
	local name=$1 rc
	shift
	echo "=== $name"
	tests/vm/vm.sh -t "${VM_TIMEOUT:-300}" "$OUT/$name" "$@"
	rc=$?
	if [ $rc = 0 ]; then
		pass=$((pass + 1)); echo "=== $name: PASS"
	else
		failn=$((failn + 1)); failed+=("$name"); echo "=== $name: FAIL (rc=$rc)"
	fi
}

vmtest smoke-c-mdmon tests/vm/smoke.sh

echo "${pass} passed, ${failn} failed${failed:+ (${failed[*]})}"
[ "$failn" = 0 ]
