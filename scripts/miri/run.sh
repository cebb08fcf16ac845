#!/usr/bin/env bash
# Runs tamis-kernels' tests under Miri, which stops at the first undefined behaviour it
# sees: out-of-bounds or misaligned accesses, data races, calls into code built for CPU
# features the machine lacks. Fails loudly (any test failure or Miri error exits non-zero).
# Usage: scripts/miri/run.sh   (needs a nightly toolchain with the miri component;
#   `rustup +nightly component add miri rust-src` installs it; MIRI_TOOLCHAIN picks another)
# The last result is recorded in bench/runs/2026-12-02-xeon-2core/miri.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
toolchain="${MIRI_TOOLCHAIN:-nightly}"
# Tree Borrows: crossbeam-epoch (under rayon) breaks Stacked Borrows' stricter, still
# experimental rules, a known issue that crossbeam's own Miri CI also answers this way
# (crossbeam-rs/crossbeam#996); its integer-to-pointer casts only warn.
export MIRIFLAGS="${MIRIFLAGS:--Zmiri-tree-borrows -Zmiri-permissive-provenance}"

echo "== toolchain"
cargo "+$toolchain" --version
rustc "+$toolchain" --version
cargo "+$toolchain" miri --version
cargo "+$toolchain" miri setup >/dev/null

# Pass 1, as most CPUs Miri could stand for: no target features, so the runtime dispatch
# picks the portable builds (simd.rs) and gemm its scalar kernels, and Miri checks every
# gemm call that Linear and attention make through linear.rs's `unsafe` block.
echo "== pass 1: portable builds"
cargo "+$toolchain" miri test -p tamis-kernels --locked --lib
# The integration tests, all of them. The kernels run on rayon pools there (a 2-thread
# one, and the global pool that attention and the bounds tests reach), where Miri also
# checks the threads' accesses for data races. Without -Zmiri-ignore-leaks they pass and
# then fail at exit: crossbeam-epoch (under rayon) never frees its last deferred deque
# buffers, and rayon's pool threads are never joined, which Miri reports as leaks and as
# "the main thread terminated without waiting for all remaining threads". Neither is
# undefined behaviour; the library tests above keep the leak check.
MIRIFLAGS="$MIRIFLAGS -Zmiri-ignore-leaks" \
    cargo "+$toolchain" miri test -p tamis-kernels --locked --test it

# Pass 2, as a CPU with AVX2, FMA and AVX-512F: the features are enabled at compile time,
# so `is_x86_feature_detected!` is true under Miri too and the dispatch makes its
# `unsafe` calls into the AVX2 and AVX-512 builds; the peak probe runs its intrinsics.
# A separate target directory keeps pass 1's build.
echo "== pass 2: x86 builds (-C target-feature=+avx2,+fma,+avx512f)"
CARGO_TARGET_DIR=target/miri-x86 RUSTFLAGS="-C target-feature=+avx2,+fma,+avx512f" \
    cargo "+$toolchain" miri test -p tamis-kernels --locked --lib

echo "== miri: no undefined behaviour found"
