import json, sys
r = json.load(sys.stdin)
for g in r["gemm"]:
    x3 = g.get("bf16x3_seconds")
    x3 = x3 * 1e3 if x3 else float("nan")
    print(f'{g["layer"]:14} {g["rows"]}x{g["in"]}x{g["out"]} f32 {g["seconds"]*1e3:8.2f} ms  '
          f'bf16 {g["bf16_seconds"]*1e3:8.2f} ms  bf16x3 {x3:8.2f} ms  bf16 of peak {g["bf16_fraction_of_peak"]*100:.0f}%')
