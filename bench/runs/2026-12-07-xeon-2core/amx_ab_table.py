import re, collections, statistics, sys
cur=None; data=collections.defaultdict(list); cfgs=[]; layers=[]
for line in open(sys.argv[1]):
    m=re.match(r'== round (\d) (.*) gemm --hidden (\d+)',line)
    if m:
        cur=(m.group(2),m.group(3))
        if cur not in cfgs: cfgs.append(cur)
        continue
    m=re.match(r'(.{14}) (\d+)x(\d+)x(\d+) f32\s+([\d.]+) ms\s+bf16\s+([\d.]+) ms\s+bf16x3\s+([\d.]+) ms',line)
    if m and cur:
        l=m.group(1).strip()
        if l not in layers: layers.append(l)
        data[(cur,l)].append((float(m.group(6)), float(m.group(7))))
for hidden in ["384","1024"]:
    cs=[c for c in cfgs if c[1]==hidden]
    print(f"\nhidden {hidden}: median of 3 rounds, ms, bf16 / bf16x3")
    print("| layer | " + " | ".join(c[0] for c in cs) + " |")
    print("|---|" + "---:|"*len(cs))
    for l in layers:
        print(f"| {l} | " + " | ".join(f"{statistics.median(x[0] for x in data[(c,l)]):.2f} / {statistics.median(x[1] for x in data[(c,l)]):.2f}" for c in cs) + " |")
