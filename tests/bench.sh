#!/bin/bash
# Benchmark (prints figures): write-pending round trip, memory and size,
# ours against Debian's C mdmon, in one VM boot.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tests/vm/setup.sh >/dev/null
cargo build --release --target x86_64-unknown-linux-musl --bins --examples 2>&1 | tail -n1
VM_QUIET=1 tests/vm/vm.sh -t 900 tests/vm/out/bench tests/vm/scenarios/bench.sh
cat tests/vm/out/bench/bench.txt
