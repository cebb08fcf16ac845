"""Peak RSS of `tamis serve` for upserts of 1 MiB documents (one, then four in one request).

Ingest chunks a document by the bi-encoder's tokens, so unlike /rerank it tokenizes the
whole text; this measures what that costs at the default --max-document-bytes (1 MiB).
Usage: python3 measure_upsert_memory.py TAMIS_BINARY SHARED_DIR
"""
import json, subprocess, sys, tempfile, time, urllib.request

binary, shared = sys.argv[1], sys.argv[2]
model = f"{shared}/models/all-MiniLM-L6-v2"
with open(f"{shared}/datasets/nfcorpus/corpus.jsonl") as corpus:
    corpus_texts = [json.loads(line)["text"] for line in corpus]

def document(offset, size=1024 * 1024):
    """NFCorpus texts joined from `offset` on, cut to `size` bytes (ASCII in practice)."""
    parts, length, i = [], 0, offset
    while length < size:
        parts.append(corpus_texts[i % len(corpus_texts)])
        length += len(parts[-1].encode()) + 1
        i += 1
    return " ".join(parts).encode()[:size].decode(errors="ignore")

def status(pid):
    fields = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                fields[key] = int(value.split()[0]) // 1024
    return fields

def call(port, method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, method=method,
                                     headers={"content-type": "application/json"})
    start = time.time()
    with urllib.request.urlopen(request, timeout=1800) as reply:
        return reply.status, json.loads(reply.read() or b"null"), round(time.time() - start, 1), len(data or b"")

def scenario(n_documents):
    with tempfile.TemporaryDirectory() as data_dir:
        server = subprocess.Popen([binary, "serve", "--model", model, "--data-dir", data_dir, "--bind", "127.0.0.1:0", "--log", "warn"],
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        port = int(server.stdout.readline().strip().rsplit(":", 1)[1])
        call(port, "PUT", "/v1/collections/memory")
        time.sleep(1)
        idle = status(server.pid)
        documents = [{"id": f"d{i}", "text": document(i * 997)} for i in range(n_documents)]
        code, reply, seconds, body_bytes = call(port, "POST", "/v1/collections/memory/documents", {"documents": documents})
        after = status(server.pid)
        server.terminate(); server.wait()
        print(f"{n_documents} x 1 MiB in one upsert ({body_bytes / 1e6:.2f} MB body): idle RSS {idle['VmRSS']} MB, "
              f"peak RSS (VmHWM) {after['VmHWM']} MB, RSS after {after['VmRSS']} MB; reply {code} {reply} in {seconds} s", flush=True)

for n in (1, 4):
    scenario(n)
