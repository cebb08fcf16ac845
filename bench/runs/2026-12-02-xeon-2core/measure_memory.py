"""Peak RSS of `tamis serve` for 7.5 MB documents to /rerank (one, then four at once)."""
import json, subprocess, sys, threading, time, urllib.request

binary, shared = sys.argv[1], sys.argv[2]
reranker = f"{shared}/models/tamis-ce-minilm-l6-nfcorpus"
texts = []
size = 0
with open(f"{shared}/datasets/nfcorpus/corpus.jsonl") as corpus:
    corpus_texts = [json.loads(line)["text"] for line in corpus]
# NFCorpus holds 5.4 MB of text: go round it until 7.5 MB.
while size < 7_500_000:
    text = corpus_texts[len(texts) % len(corpus_texts)]
    texts.append(text)
    size += len(text.encode()) + 1
document = " ".join(texts)
body = json.dumps({"query": "statin use and breast cancer survival", "texts": [document], "truncate": True}).encode()

def status(pid):
    fields = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                fields[key] = int(value.split()[0]) // 1024
    return fields

def post(port, results, idx):
    start = time.time()
    request = urllib.request.Request(f"http://127.0.0.1:{port}/rerank", data=body, headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=600) as reply:
            results[idx] = (reply.status, round(time.time() - start, 2))
    except urllib.error.HTTPError as err:
        results[idx] = (err.code, round(time.time() - start, 2))

def scenario(n_concurrent):
    server = subprocess.Popen([binary, "serve", "--reranker", reranker, "--bind", "127.0.0.1:0", "--max-body-bytes", "8388608", "--log", "warn"],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    line = server.stdout.readline()
    port = int(line.strip().rsplit(":", 1)[1])
    time.sleep(1)
    idle = status(server.pid)
    results = [None] * n_concurrent
    threads = [threading.Thread(target=post, args=(port, results, i)) for i in range(n_concurrent)]
    for t in threads: t.start()
    for t in threads: t.join()
    after = status(server.pid)
    server.terminate(); server.wait()
    print(f"{n_concurrent} x {len(body)/1e6:.2f} MB body: idle RSS {idle['VmRSS']} MB, peak RSS (VmHWM) {after['VmHWM']} MB, RSS after {after['VmRSS']} MB; replies (status, seconds) {results}", flush=True)

for n in (1, 4):
    scenario(n)
