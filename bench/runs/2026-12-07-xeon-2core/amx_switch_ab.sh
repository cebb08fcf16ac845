#!/bin/bash
# A/B of scratch switches in the AMX bf16 loop: A = HEAD, X = HEAD + env switches (64-B aligned
# tile-store buffer, TAMIS_X_ACC_OFF floats off it; TAMIS_X_PF_LINES prefetched weight lines per
# step, 32 at HEAD; TAMIS_X_ROWBLOCK rows kept hot, 128 at HEAD). bench gemm at MiniLM's and
# Qwen3-0.6B's widths, alternating, three rounds. Run from the project root.
A=/work/runs/tamis-A; X=/work/runs/tamis-X
lscpu | grep "Model name"; grep -o "amx_bf16\|avx512_bf16" /proc/cpuinfo | sort -u | tr '\n' ' '; echo
fmt="$(dirname "$0")"/gemm_fmt.py
for round in 1 2 3; do
  for cfg in "A" "X" "X TAMIS_X_ACC_OFF=4" "X TAMIS_X_PF_LINES=0" "X TAMIS_X_PF_LINES=8" "X TAMIS_X_ROWBLOCK=512" "X TAMIS_X_ROWBLOCK=2048"; do
    set -- $cfg; bin=$1; shift
    b=$A; [ "$bin" = X ] && b=$X
    for shape in "--hidden 384 --intermediate 1536" "--hidden 1024 --intermediate 3072"; do
      echo "== round $round $cfg gemm $shape"
      env "$@" $b bench gemm --threads 2 $shape --json | python3 $fmt
    done
  done
done
