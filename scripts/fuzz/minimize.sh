#!/usr/bin/env bash
# Folds a campaign's new inputs (fuzz/work/<target>/) into the committed corpus
# (fuzz/corpus/<target>/), keeping the hand-written seeds (seed-*) and the inputs of fixed
# crashes (regression-*) whatever their coverage, and of the rest only inputs that add
# edges (libFuzzer -merge=1 -use_counters=0: a few hundred files instead of thousands).
# Runs the ASan build of scripts/fuzz/run.sh, so every kept input is replayed under ASan.
#
#   scripts/fuzz/minimize.sh [TARGET...]      all targets when none is named
set -euo pipefail
cd "$(dirname "$0")/../.."

TARGETS=(filter server_bodies jsonl chunker eval_readers store_corruption)
[ $# -gt 0 ] && TARGETS=("$@")
bin=fuzz/target/x86_64-unknown-linux-gnu/release

cargo +nightly fuzz build --sanitizer address
for target in "${TARGETS[@]}"; do
    corpus="fuzz/corpus/$target"
    merged=$(mktemp -d)
    find "$corpus" -maxdepth 1 -type f \( -name 'seed-*' -o -name 'regression-*' \) -exec cp {} "$merged/" \;
    kept=$(find "$merged" -type f | wc -l)
    inputs=("$corpus")
    [ -d "fuzz/work/$target" ] && inputs+=("fuzz/work/$target")
    # -max_len as large as any input: merging must not cut inputs short.
    "$bin/$target" -merge=1 -use_counters=0 -detect_leaks=0 -max_len=1048576 -timeout=30 "$merged" "${inputs[@]}" \
        >"fuzz/work/logs/merge-$target.log" 2>&1 || {
        echo "minimize: merging $target failed; the end of fuzz/work/logs/merge-$target.log:" >&2
        tail -20 "fuzz/work/logs/merge-$target.log" >&2
        exit 1
    }
    find "$corpus" -maxdepth 1 -type f -delete
    cp "$merged"/* "$corpus/"
    rm -rf "$merged"
    echo "$target: $(find "$corpus" -type f | wc -l) files ($kept seeds and regressions), $(du -sh "$corpus" | cut -f1)"
done
