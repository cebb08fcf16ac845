import json, sys
for D in ["nfcorpus","cranfield"]:
    res={}
    for P in ["fp32","bf16x3"]:
        j=json.load(open(f"dense-{D}-{P}.json"))
        res[P]={r["mode"]:r for r in j["results"]}
    for mode in ["dense","hybrid","bm25"]:
        a,b=res["fp32"][mode],res["bf16x3"][mode]
        na,nb=a["metrics"]["nDCG@10"],b["metrics"]["nDCG@10"]
        changed=sum(1 for q in a["per_query"] if abs(a["per_query"][q]["nDCG@10"]-b["per_query"][q]["nDCG@10"])>1e-12)
        ra,rb=a["metrics"]["Recall@100"],b["metrics"]["Recall@100"]
        print(f"| {D} | {mode} | {na:.4f} | {nb:.4f} | {nb-na:+.4f} | {changed} of {len(a['per_query'])} | {ra:.4f} | {rb:.4f} |")
