#!/usr/bin/env python3
"""Drive the official Python SDKs against a running `tamis serve` and check their answers.

The server must have loaded the bi-encoder `all-MiniLM-L6-v2` and the cross-encoder
`tamis-ce-minilm-l6-nfcorpus` from the shared models directory. Every check compares what the
SDK hands back with reference values, not just that the call succeeded:

* cohere `Client.rerank` (POST /v1/rerank) and `ClientV2.rerank` (POST /v2/rerank) on the
  lines of `<shared>/models/tamis-ce-minilm-l6-nfcorpus/reference_scores.jsonl`: the order is
  the order of the reference logits (descending; logits closer than 2e-4 may swap), every
  `relevance_score` is sigmoid(logit) within 1e-4, `top_n` is respected, `return_documents`
  gives back the text (v1), `{text}` documents (v1) score like strings.
* openai `embeddings.create` (POST /v1/embeddings) on the texts of
  `crates/tamis-models/tests/fixtures/minilm-embeddings.json` (sentence-transformers
  embeddings): the SDK's default base64 encoding, `encoding_format="float"`, the raw base64
  payload (little-endian float32) and `dimensions` (the first d components, re-normalized).
  Each vector must reach cosine >= 0.9999 and max abs difference <= 1e-4.
* huggingface_hub `InferenceClient.feature_extraction` (POST /embed) on the same texts and
  `InferenceClient.text_classification` (POST /predict) on [query, passage] pairs: the score
  is sigmoid(reference logit) within 1e-4.
* a wrong API key raises each SDK's 401 error.

Prints one `ok <check>` line per check, `FAIL <check>: why` for each failure, and exits 1 if
any check failed (2 if the server cannot be reached).

Usage:
    python scripts/clients/check_clients.py --base-url http://127.0.0.1:PORT --api-key KEY \
        [--shared DIR] [--embed-model NAME] [--rerank-model NAME]
"""

from __future__ import annotations

import argparse
import base64
import json
import math
import os
import sys
import traceback
import urllib.error
import urllib.request
from pathlib import Path

import cohere
import numpy as np
import openai
from huggingface_hub import InferenceClient
from huggingface_hub.errors import HfHubHTTPError

REPO = Path(__file__).resolve().parents[2]
FIXTURE = REPO / "crates/tamis-models/tests/fixtures/minilm-embeddings.json"
CE_DIR = "tamis-ce-minilm-l6-nfcorpus"

LOGIT_TOL = 1e-4  # reference logits are reproducible within 1e-4
SCORE_TOL = 1e-4  # relevance_score vs sigmoid(reference logit)
TIE_TOL = 2 * LOGIT_TOL  # logits closer than this may legitimately swap ranks
COS_MIN = 0.9999
MAX_ABS = 1e-4
BATCH = 16
DIMENSIONS = 64  # for the Matryoshka `dimensions` check


class CheckFailed(Exception):
    pass


def expect(cond: bool, msg: str) -> None:
    if not cond:
        raise CheckFailed(msg)


def sigmoid(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


def is_float(x: object) -> bool:
    return isinstance(x, float)


# ---------------------------------------------------------------------------------------------
# Reference data


def load_rerank_cases(shared: Path, max_docs: int) -> list[dict]:
    path = shared / "models" / CE_DIR / "reference_scores.jsonl"
    cases = []
    with path.open(encoding="utf-8") as f:
        for line in f:
            if line.strip():
                case = json.loads(line)
                if len(case["documents"]) <= max_docs:
                    cases.append(case)
    if not cases:
        raise SystemExit(f"no reference line with at most {max_docs} documents in {path}")
    return cases


def load_embedding_cases(fixture: Path) -> list[dict]:
    data = json.loads(fixture.read_text(encoding="utf-8"))
    # The OpenAI and TEI calls below send no prompt, so only prompt-less cases apply.
    cases = [c for c in data["cases"] if c.get("prompt_name") is None]
    if not cases:
        raise SystemExit(f"no prompt-less case in {fixture}")
    return cases


def batches(items: list, size: int = BATCH):
    for i in range(0, len(items), size):
        yield items[i : i + size]


# ---------------------------------------------------------------------------------------------
# Comparisons


def check_vector(label: str, got, want: list[float], dims: int | None = None) -> None:
    want_v = np.asarray(want, dtype=np.float64)
    if dims is not None:
        want_v = want_v[:dims]
        want_v = want_v / np.linalg.norm(want_v)
    got_v = np.asarray(got, dtype=np.float64)
    expect(got_v.ndim == 1, f"{label}: expected a vector, got shape {got_v.shape}")
    expect(
        got_v.shape == want_v.shape,
        f"{label}: expected {want_v.shape[0]} components, got {got_v.shape[0]}",
    )
    expect(bool(np.all(np.isfinite(got_v))), f"{label}: non-finite component")
    norm = float(np.linalg.norm(got_v))
    expect(norm > 0, f"{label}: zero vector")
    cos = float(got_v @ want_v) / (norm * float(np.linalg.norm(want_v)))
    diff = float(np.max(np.abs(got_v - want_v)))
    expect(
        cos >= COS_MIN and diff <= MAX_ABS,
        f"{label}: cosine {cos:.7f} (min {COS_MIN}), max abs diff {diff:.2e} (max {MAX_ABS:g})",
    )


def check_ranking(
    label: str,
    results: list,
    case: dict,
    top_n: int | None,
    want_text: bool,
) -> None:
    """`results` are (index, relevance_score, text-or-None) triples in the server's order."""
    logits = case["logits"]
    docs = case["documents"]
    n = len(docs)
    k = n if top_n is None else min(top_n, n)
    expect(len(results) == k, f"{label}: expected {k} results (top_n={top_n}, {n} documents), got {len(results)}")
    ranked = sorted(logits, reverse=True)
    seen = set()
    prev = math.inf
    for pos, (index, score, text) in enumerate(results):
        where = f"{label}: result {pos}"
        expect(isinstance(index, int) and not isinstance(index, bool), f"{where}: index {index!r} is not an int")
        expect(0 <= index < n and index not in seen, f"{where}: bad or repeated index {index}")
        seen.add(index)
        expect(is_float(score), f"{where}: relevance_score {score!r} is not a float")
        want = sigmoid(logits[index])
        expect(
            abs(score - want) <= SCORE_TOL,
            f"{where} (index {index}): relevance_score {score:.6f}, expected sigmoid({logits[index]:.6f}) = {want:.6f}",
        )
        expect(
            abs(logits[index] - ranked[pos]) <= TIE_TOL,
            f"{where}: index {index} (reference logit {logits[index]:.6f}) is out of order; "
            f"rank {pos} should have logit {ranked[pos]:.6f}",
        )
        expect(score <= prev + 1e-12, f"{where}: scores are not in descending order")
        prev = score
        if want_text:
            expect(text == docs[index], f"{where}: returned document text differs from document {index}")
        else:
            expect(text is None, f"{where}: a document came back although return_documents is false")


# ---------------------------------------------------------------------------------------------
# Checks


class Checks:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.base = args.base_url.rstrip("/")
        self.rerank_cases = load_rerank_cases(args.shared, args.max_docs)
        self.embed_cases = load_embedding_cases(args.fixture)
        self.failures: list[str] = []

    # -- clients --------------------------------------------------------------------------

    def cohere_v1(self, key: str | None = None) -> cohere.Client:
        return cohere.Client(
            api_key=key or self.args.api_key, base_url=self.base, timeout=self.args.timeout, max_retries=0
        )

    def cohere_v2(self, key: str | None = None) -> cohere.ClientV2:
        return cohere.ClientV2(
            api_key=key or self.args.api_key, base_url=self.base, timeout=self.args.timeout, max_retries=0
        )

    def openai(self, key: str | None = None) -> openai.OpenAI:
        return openai.OpenAI(
            api_key=key or self.args.api_key, base_url=self.base + "/v1", timeout=self.args.timeout, max_retries=0
        )

    def hf(self, route: str, key: str | None = None) -> InferenceClient:
        # With a URL as `model`, InferenceClient POSTs to exactly that URL (no suffix added).
        return InferenceClient(model=f"{self.base}/{route}", token=key or self.args.api_key, timeout=self.args.timeout)

    # -- runner ---------------------------------------------------------------------------

    def run(self, name: str, fn) -> None:
        try:
            detail = fn()
        except CheckFailed as e:
            self.failures.append(name)
            print(f"FAIL {name}: {e}", flush=True)
        except Exception as e:  # noqa: BLE001 -- an SDK error fails the check, with its reason
            self.failures.append(name)
            last = traceback.extract_tb(e.__traceback__)[-1]
            print(
                f"FAIL {name}: {type(e).__module__}.{type(e).__name__}: {str(e)[:600]} "
                f"(at {Path(last.filename).name}:{last.lineno})",
                flush=True,
            )
        else:
            print(f"ok {name}" + (f" ({detail})" if detail else ""), flush=True)

    def skip(self, name: str, why: str) -> None:
        print(f"skip {name}: {why}", flush=True)

    # -- cohere ---------------------------------------------------------------------------

    def cohere_v1_rerank(self) -> str:
        client = self.cohere_v1()
        for i, case in enumerate(self.rerank_cases):
            r = client.rerank(
                model=self.args.rerank_model, query=case["query"], documents=case["documents"], return_documents=True
            )
            expect(isinstance(r.results, list), f"line {i}: `results` missing or not a list")
            got = [(x.index, x.relevance_score, x.document.text if x.document is not None else None) for x in r.results]
            check_ranking(f"line {i}", got, case, None, want_text=True)
            expect(isinstance(r.id, str) and r.id, f"line {i}: `id` missing or not a non-empty string")
        return f"{len(self.rerank_cases)} queries, {sum(len(c['documents']) for c in self.rerank_cases)} documents"

    def cohere_v1_top_n(self) -> str:
        client = self.cohere_v1()
        for i, case in enumerate(self.rerank_cases):
            top_n = max(1, len(case["documents"]) // 2)
            r = client.rerank(
                model=self.args.rerank_model,
                query=case["query"],
                documents=case["documents"],
                top_n=top_n,
                return_documents=False,
            )
            got = [(x.index, x.relevance_score, x.document.text if x.document is not None else None) for x in r.results]
            check_ranking(f"line {i} top_n={top_n}", got, case, top_n, want_text=False)
        return "top_n with return_documents=False"

    def cohere_v1_text_objects(self) -> str:
        client = self.cohere_v1()
        for i, case in enumerate(self.rerank_cases):
            docs = [{"text": d} for d in case["documents"]]
            r = client.rerank(model=self.args.rerank_model, query=case["query"], documents=docs, return_documents=True)
            got = [(x.index, x.relevance_score, x.document.text if x.document is not None else None) for x in r.results]
            check_ranking(f"line {i} {{text}} documents", got, case, None, want_text=True)
        return "documents as {text} objects"

    def cohere_v2_rerank(self) -> str:
        client = self.cohere_v2()
        for i, case in enumerate(self.rerank_cases):
            r = client.rerank(model=self.args.rerank_model, query=case["query"], documents=case["documents"])
            expect(isinstance(r.results, list), f"line {i}: `results` missing or not a list")
            # v2 has no return_documents: a result carries index and relevance_score only.
            got = [(x.index, x.relevance_score, None) for x in r.results]
            check_ranking(f"line {i}", got, case, None, want_text=False)
            expect(isinstance(r.id, str) and r.id, f"line {i}: `id` missing or not a non-empty string")
        return f"{len(self.rerank_cases)} queries"

    def cohere_v2_top_n(self) -> str:
        client = self.cohere_v2()
        for i, case in enumerate(self.rerank_cases):
            top_n = max(1, len(case["documents"]) // 2)
            # max_tokens_per_doc above the model's 256-token window must not change any score.
            r = client.rerank(
                model=self.args.rerank_model,
                query=case["query"],
                documents=case["documents"],
                top_n=top_n,
                max_tokens_per_doc=4096,
            )
            got = [(x.index, x.relevance_score, None) for x in r.results]
            check_ranking(f"line {i} top_n={top_n}", got, case, top_n, want_text=False)
        return "top_n, max_tokens_per_doc=4096"

    # -- openai ---------------------------------------------------------------------------

    def _openai_embed(self, encoding_format: str | None, dims: int | None = None) -> str:
        client = self.openai()
        kwargs = {}
        if encoding_format is not None:
            kwargs["encoding_format"] = encoding_format
        if dims is not None:
            kwargs["dimensions"] = dims
        total = 0
        for chunk in batches(self.embed_cases):
            texts = [c["text"] for c in chunk]
            r = client.embeddings.create(model=self.args.embed_model, input=texts, **kwargs)
            expect(r.object == "list", f"`object` is {r.object!r}, expected 'list'")
            expect(isinstance(r.model, str), f"`model` is {r.model!r}, expected a string")
            expect(isinstance(r.data, list) and len(r.data) == len(texts), f"expected {len(texts)} embeddings")
            u = r.usage
            expect(u is not None, "`usage` missing")
            expect(
                isinstance(u.prompt_tokens, int) and isinstance(u.total_tokens, int) and u.prompt_tokens > 0,
                f"bad usage {u!r}",
            )
            expect(u.total_tokens >= u.prompt_tokens, f"usage.total_tokens < prompt_tokens: {u!r}")
            for i, (item, case) in enumerate(zip(r.data, chunk)):
                expect(item.index == i, f"data[{i}].index is {item.index!r}, expected {i}")
                expect(item.object == "embedding", f"data[{i}].object is {item.object!r}")
                emb = item.embedding
                if encoding_format == "base64":
                    emb = decode_b64(emb, f"text {case['text'][:40]!r}")
                else:
                    expect(isinstance(emb, list), f"data[{i}].embedding is a {type(emb).__name__}, expected a list")
                check_vector(f"text {case['text'][:40]!r}", emb, case["embedding"], dims)
            total += len(texts)
        return f"{total} texts"

    def openai_default(self) -> str:
        # The SDK sends encoding_format="base64" when none is given and decodes it itself.
        return self._openai_embed(None) + ", SDK default (base64 on the wire)"

    def openai_float(self) -> str:
        return self._openai_embed("float")

    def openai_base64_raw(self) -> str:
        return self._openai_embed("base64") + ", decoded here as little-endian float32"

    def openai_dimensions(self) -> str:
        self._openai_embed("float", DIMENSIONS)
        self._openai_embed(None, DIMENSIONS)
        return f"dimensions={DIMENSIONS}, float and base64, first {DIMENSIONS} components re-normalized"

    def openai_single_string(self) -> str:
        case = self.embed_cases[0]
        r = self.openai().embeddings.create(model=self.args.embed_model, input=case["text"], encoding_format="float")
        expect(len(r.data) == 1 and r.data[0].index == 0, f"expected one embedding with index 0, got {len(r.data)}")
        check_vector("single string", r.data[0].embedding, case["embedding"])
        return "input as a bare string"

    # -- huggingface_hub ------------------------------------------------------------------

    def hf_feature_extraction(self) -> str:
        client = self.hf("embed")
        for chunk in batches(self.embed_cases):
            arr = client.feature_extraction([c["text"] for c in chunk])
            expect(arr.shape == (len(chunk), len(chunk[0]["embedding"])), f"batch: shape {arr.shape}")
            for row, case in zip(arr, chunk):
                check_vector(f"text {case['text'][:40]!r}", row, case["embedding"])
        case = self.embed_cases[0]
        arr = client.feature_extraction(case["text"])
        expect(arr.shape == (1, len(case["embedding"])), f"single string: shape {arr.shape}, expected (1, dim)")
        check_vector("single string", arr[0], case["embedding"])
        return f"{len(self.embed_cases)} texts in batches, one single string"

    def hf_text_classification(self) -> str:
        # InferenceClient.text_classification is annotated `text: str`, but it sends whatever it
        # gets as `inputs`: a [query, passage] list goes out as {"inputs": [q, p], "parameters": {}},
        # which TEI's /predict reads as a pair.
        client = self.hf("predict")
        shapes = set()
        n = 0
        for i, case in enumerate(self.rerank_cases):
            for j, doc in enumerate(case["documents"]):
                out = client.text_classification([case["query"], doc])
                # A TEI-style flat answer [{label, score}] comes back from the SDK as one element,
                # a nested answer [[{label, score}]] as a list; both carry the same prediction.
                if isinstance(out, list):
                    shapes.add("nested [[...]] -> list")
                    expect(len(out) >= 1, f"line {i} doc {j}: empty prediction list")
                    pred = out[0]
                else:
                    shapes.add("flat [...] -> single element")
                    pred = out
                expect(isinstance(pred.label, str), f"line {i} doc {j}: label {pred.label!r} is not a string")
                expect(is_float(pred.score), f"line {i} doc {j}: score {pred.score!r} is not a float")
                want = sigmoid(case["logits"][j])
                expect(
                    abs(pred.score - want) <= SCORE_TOL,
                    f"line {i} doc {j}: score {pred.score:.6f}, expected sigmoid({case['logits'][j]:.6f}) = {want:.6f}",
                )
                n += 1
        return f"{n} [query, passage] pairs; response shape: {', '.join(sorted(shapes))}"

    # -- auth -----------------------------------------------------------------------------

    def auth(self) -> str:
        bad = self.args.api_key + "-wrong"
        case = self.rerank_cases[0]
        try:
            self.cohere_v1(bad).rerank(model=self.args.rerank_model, query=case["query"], documents=case["documents"])
        except cohere.UnauthorizedError:
            pass
        else:
            raise CheckFailed("cohere v1 with a wrong key did not raise UnauthorizedError")
        try:
            self.cohere_v2(bad).rerank(model=self.args.rerank_model, query=case["query"], documents=case["documents"])
        except cohere.UnauthorizedError:
            pass
        else:
            raise CheckFailed("cohere v2 with a wrong key did not raise UnauthorizedError")
        try:
            self.openai(bad).embeddings.create(model=self.args.embed_model, input=["auth"])
        except openai.AuthenticationError:
            pass
        else:
            raise CheckFailed("openai with a wrong key did not raise AuthenticationError")
        for route, call in (
            ("embed", lambda c: c.feature_extraction("auth")),
            ("predict", lambda c: c.text_classification(["auth", "check"])),
        ):
            try:
                call(self.hf(route, bad))
            except HfHubHTTPError as e:
                status = e.response.status_code if e.response is not None else None
                expect(status == 401, f"huggingface_hub /{route} with a wrong key: HTTP {status}, expected 401")
            else:
                raise CheckFailed(f"huggingface_hub /{route} with a wrong key did not raise")
        return "cohere UnauthorizedError (v1, v2), openai AuthenticationError, huggingface_hub HTTP 401"

    # -- all ------------------------------------------------------------------------------

    def all(self) -> int:
        self.run("cohere-v1-rerank", self.cohere_v1_rerank)
        self.run("cohere-v1-rerank-top-n", self.cohere_v1_top_n)
        self.run("cohere-v1-rerank-text-objects", self.cohere_v1_text_objects)
        self.run("cohere-v2-rerank", self.cohere_v2_rerank)
        self.run("cohere-v2-rerank-top-n", self.cohere_v2_top_n)
        self.run("openai-embeddings-default", self.openai_default)
        self.run("openai-embeddings-float", self.openai_float)
        self.run("openai-embeddings-base64", self.openai_base64_raw)
        self.run("openai-embeddings-dimensions", self.openai_dimensions)
        self.run("openai-embeddings-single-string", self.openai_single_string)
        self.run("hf-feature-extraction", self.hf_feature_extraction)
        self.skip(
            "hf-feature-extraction-dimensions",
            "InferenceClient.feature_extraction(dimensions=, encoding_format=) adds those keys to the /embed body, "
            "which TEI's /embed does not define; Matryoshka truncation is checked through openai instead",
        )
        self.run("hf-text-classification-pair", self.hf_text_classification)
        self.skip(
            "hf-text-classification-single",
            "the only classifier served is a cross-encoder, whose score needs a [query, passage] pair",
        )
        self.run("auth-wrong-key", self.auth)
        return len(self.failures)


def decode_b64(value, label: str) -> list[float]:
    expect(isinstance(value, str), f"{label}: base64 was asked for, got a {type(value).__name__}")
    raw = base64.b64decode(value, validate=True)
    expect(len(raw) % 4 == 0, f"{label}: base64 payload of {len(raw)} bytes is not float32")
    return np.frombuffer(raw, dtype="<f4").astype(np.float64).tolist()


def preflight(base: str, timeout: float) -> None:
    """Fail fast when nothing listens at `base`; any HTTP answer (even 404 or 401) will do."""
    try:
        urllib.request.urlopen(base + "/", timeout=timeout).close()
    except urllib.error.HTTPError:
        pass
    except (urllib.error.URLError, OSError) as e:
        print(f"FAIL server: cannot reach {base}: {e}", flush=True)
        sys.exit(2)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--base-url", required=True, help="the server's root, e.g. http://127.0.0.1:8080")
    ap.add_argument("--api-key", required=True, help="the key the server was started with")
    ap.add_argument(
        "--shared",
        type=Path,
        default=Path(os.environ.get("TAMIS_SHARED_DIR") or REPO.parent / "shared"),
        help="shared data directory (default: $TAMIS_SHARED_DIR, else ../shared)",
    )
    ap.add_argument("--fixture", type=Path, default=FIXTURE, help="reference embeddings (default: %(default)s)")
    ap.add_argument("--embed-model", default="all-MiniLM-L6-v2", help="`model` sent to /v1/embeddings")
    ap.add_argument("--rerank-model", default=CE_DIR, help="`model` sent to /v1/rerank and /v2/rerank")
    ap.add_argument("--max-docs", type=int, default=20, help="skip reference lines with more documents")
    ap.add_argument("--timeout", type=float, default=120.0, help="seconds per request")
    args = ap.parse_args()

    checks = Checks(args)
    preflight(checks.base, args.timeout)
    failed = checks.all()
    if failed:
        print(f"{failed} check(s) failed: {', '.join(checks.failures)}", flush=True)
        return 1
    print("all client checks passed", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
