#!/usr/bin/env bash
# Coverage-guided fuzzing of tamis' input surfaces (cargo-fuzz, libFuzzer, AddressSanitizer).
#
#   scripts/fuzz/run.sh --ci                 build every target, run each for a few seconds
#   scripts/fuzz/run.sh [--runs N] [--max-time S] [--max-len B] [--sanitizer none] [TARGET...]
#                                            the campaign: each target until N executions
#                                            (default 1000000) or S seconds (default 7200);
#                                            --max-len overrides the input size cap;
#                                            --sanitizer none builds without ASan (in
#                                            fuzz/target-none): for safe-Rust, allocation-heavy
#                                            targets (chunker: 5-6x faster), coverage kept
#
# New inputs go to fuzz/work/<target>/ (ignored by git), read together with the committed
# seeds in fuzz/corpus/<target>/; logs go to fuzz/work/logs/. A crash stops its target,
# leaves the input in fuzz/artifacts/<target>/ and makes this script fail.
# Long runs are meant to run under `nice`, one target at a time (the fuzz build is shared).
set -euo pipefail
cd "$(dirname "$0")/../.."

# The version the corpus and this script were made with; CI installs it when it is missing.
CARGO_FUZZ_VERSION=0.13.2
TARGETS=(filter server_bodies jsonl chunker eval_readers store_corruption)
CI_SECONDS=${TAMIS_FUZZ_CI_SECONDS:-5}

ci=false
runs=1000000
max_time=7200
max_len_override=
sanitizer=address
selected=()
while [ $# -gt 0 ]; do
    case "$1" in
        --ci) ci=true ;;
        --runs) runs="$2"; shift ;;
        --max-time) max_time="$2"; shift ;;
        --max-len) max_len_override="$2"; shift ;;
        --sanitizer) sanitizer="$2"; shift ;;
        -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
        -*) echo "fuzz: unknown option $1" >&2; exit 2 ;;
        *) selected+=("$1") ;;
    esac
    shift
done
[ ${#selected[@]} -gt 0 ] || selected=("${TARGETS[@]}")

if ! rustup toolchain list | grep -q '^nightly'; then
    echo "fuzz: libFuzzer needs a nightly toolchain: rustup toolchain install nightly" >&2
    exit 1
fi
if ! cargo +nightly fuzz --version 2>/dev/null | grep -q "$CARGO_FUZZ_VERSION"; then
    cargo install cargo-fuzz --locked --version "$CARGO_FUZZ_VERSION"
fi

# Inputs longer than this find nothing new here and only slow each run down; the corruption
# target's input is a list of 5-byte patches.
max_len() {
    if [ -n "$max_len_override" ]; then echo "$max_len_override"; return; fi
    case "$1" in
        store_corruption) echo 256 ;;
        *) echo 4096 ;;
    esac
}

# cargo fuzz has no --locked: a fetch with it fails first if fuzz/Cargo.lock is stale.
cargo +nightly fetch --locked --manifest-path fuzz/Cargo.toml
# A build without ASan goes to its own target directory, so neither rebuilds the other.
build=(--sanitizer "$sanitizer")
[ "$sanitizer" = address ] || build+=(--target-dir "fuzz/target-$sanitizer")
# Flags only some targets take: no LeakSanitizer. store_corruption: its check after each
# input reported 256 bytes of thread-local destructor lists (`__cxa_thread_atexit_impl`)
# once in 74 000 executions, among 3 933 contained tantivy panics: threads that a rarely
# reached path starts once and keeps. server_bodies: at exit it reports the buffers of
# tantivy's indexing threads, which the router's collections keep running. Neither is a
# leak per input, and both targets look for crashes.
extra_flags() {
    case "$1" in
        store_corruption | server_bodies) echo -detect_leaks=0 ;;
    esac
}

echo "== fuzz build (nightly, sanitizer: $sanitizer)"
cargo +nightly fuzz build "${build[@]}"

mkdir -p fuzz/work/logs
status=0
for target in "${selected[@]}"; do
    mkdir -p "fuzz/work/$target"
    log="fuzz/work/logs/$target.log"
    if $ci; then
        limits=(-max_total_time="$CI_SECONDS")
    else
        limits=(-runs="$runs" -max_total_time="$max_time")
    fi
    echo "== fuzz $target (${limits[*]})"
    # -timeout: one input taking 30 s is a hang worth reporting. The first corpus directory
    # receives new inputs; the committed seeds are only read.
    if cargo +nightly fuzz run "${build[@]}" "$target" "fuzz/work/$target" "fuzz/corpus/$target" -- \
        "${limits[@]}" -max_len="$(max_len "$target")" -timeout=30 -print_final_stats=1 $(extra_flags "$target") \
        >"$log" 2>&1; then
        grep -E '^(stat::number_of_executed_units|stat::average_exec_per_sec|stat::new_units_added|stat::peak_rss_mb)|^Done|cov: ' "$log" | tail -5
    else
        status=1
        echo "fuzz: $target failed; the end of $log:" >&2
        tail -40 "$log" >&2
    fi
done
exit $status
