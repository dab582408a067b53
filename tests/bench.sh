#!/bin/bash
# Benchmark (prints figures): write-pending round trip at several sizes,
# memory, idle wake-ups and size, ours against Debian's C mdmon, in one VM
# boot. Arguments (VAR=value) go to tests/vm/scenarios/bench.sh (ROUNDS,
# IDLE_S, PARTS). Run it through tests/vm/vmslot.sh where VM slots are shared.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tests/vm/setup.sh >/dev/null
cargo build --release --target x86_64-unknown-linux-musl --bins --examples 2>&1 | tail -n1
VM_QUIET=1 tests/vm/vm.sh -t 1500 tests/vm/out/bench tests/vm/scenarios/bench.sh "$@"
cat tests/vm/out/bench/bench.txt
