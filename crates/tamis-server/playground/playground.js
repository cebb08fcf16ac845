// The tamis search playground: a client of the server's own API, nothing more.
//
// Safety rule: text from the user, the API or a document reaches the page only as text
// nodes (textContent, append of strings), never as markup; the server's
// Content-Security-Policy backs this up by refusing inline script.
"use strict";

(() => {
  const KEY = "tamis.apiKey";
  const TEXT_PREVIEW = 320;
  const STOPWORDS = new Set(
    "a an and are as at be by for from has have in is it its of on or that the to was were will with what which who how why when".split(" "),
  );

  const $ = (id) => document.getElementById(id);

  /** An element with attributes (`text` sets its text, `on*` adds listeners) and children. */
  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs)) {
      if (value === undefined || value === null || value === false) continue;
      if (name === "text") node.textContent = value;
      else if (name === "class") node.className = value;
      else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
      else node.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of children) {
      if (child !== null && child !== undefined) node.append(child);
    }
    return node;
  }

  // ---------------------------------------------------------------- API

  class ApiError extends Error {
    constructor(status, type, message, retryAfter) {
      super(message);
      this.status = status;
      this.type = type;
      this.retryAfter = retryAfter;
    }
    /** As the API gave it: status, error_type, error. */
    describe() {
      return this.status ? `${this.status} ${this.type || ""}: ${this.message}` : this.message;
    }
  }

  async function api(method, path, body, signal) {
    const headers = { Accept: "application/json" };
    const key = sessionStorage.getItem(KEY);
    if (key) headers.Authorization = `Bearer ${key}`;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    let response;
    try {
      response = await fetch(path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal,
        cache: "no-store",
      });
    } catch (err) {
      if (err.name === "AbortError") throw err;
      throw new ApiError(0, "network", `the server did not answer (${err.message})`);
    }
    const text = await response.text();
    let data = null;
    try {
      data = text ? JSON.parse(text) : null;
    } catch {
      data = null;
    }
    if (!response.ok) {
      const message = data && typeof data.error === "string" ? data.error : text.slice(0, 300) || response.statusText;
      throw new ApiError(response.status, data && data.error_type, message, response.headers.get("Retry-After"));
    }
    return data;
  }

  const collectionPath = (name) => `/v1/collections/${encodeURIComponent(name)}`;

  function showError(err) {
    const box = $("error");
    box.replaceChildren();
    if (!err) return;
    box.append(el("p", { text: err instanceof ApiError ? err.describe() : String(err.message || err) }));
    if (err.status === 401 || err.status === 403) {
      box.append(el("p", { text: "Enter the server's API key above (a read-only key can search but not write)." }));
    }
  }

  // ---------------------------------------------------------------- server and key

  let info = null;

  async function loadServer() {
    try {
      info = await api("GET", "/info");
      const models = [];
      if (info.embedder) models.push(`bi-encoder ${info.embedder.name}`);
      for (const r of info.rerankers) models.push(`${r.kind} ${r.name}`);
      $("server").textContent = `tamis ${info.version} · ${models.join(" · ") || "no models"}`;
      showError(null);
    } catch (err) {
      info = null;
      $("server").textContent = "Not connected.";
      showError(err);
      if (err.status === 401 || err.status === 403) $("key").focus();
    }
    for (const config of configs) config.refreshModels(info && !info.embedder);
    const late = $("manage-late");
    const kept = late.value;
    late.replaceChildren(el("option", { value: "", text: "none" }));
    for (const r of rerankers().filter((r) => r.kind === "late-interaction")) {
      late.append(el("option", { value: r.name, text: r.name }));
    }
    late.value = [...late.options].some((o) => o.value === kept) ? kept : "";
    await loadCollections();
  }

  const rerankers = () => (info ? info.rerankers : []);

  function setupKey() {
    const status = () => {
      $("key-status").textContent = sessionStorage.getItem(KEY) ? "A key is in use." : "No key in use.";
    };
    if (sessionStorage.getItem(KEY)) $("key").value = sessionStorage.getItem(KEY);
    status();
    $("key-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const key = $("key").value.trim();
      if (key) sessionStorage.setItem(KEY, key);
      else sessionStorage.removeItem(KEY);
      status();
      loadServer();
    });
    $("key-forget").addEventListener("click", () => {
      sessionStorage.removeItem(KEY);
      $("key").value = "";
      status();
      loadServer();
    });
  }

  // ---------------------------------------------------------------- collections

  let collections = [];

  async function loadCollections(select) {
    const chooser = $("collection");
    const kept = select || chooser.value;
    try {
      collections = (await api("GET", "/v1/collections")).collections;
    } catch (err) {
      collections = [];
      if (info) showError(err);
    }
    chooser.replaceChildren();
    $("collection-names").replaceChildren();
    for (const c of collections) {
      chooser.append(el("option", { value: c.name, text: `${c.name} (${c.documents} documents)` }));
      $("collection-names").append(el("option", { value: c.name }));
    }
    if (!collections.length) chooser.append(el("option", { value: "", text: "no collections yet" }));
    if (collections.some((c) => c.name === kept)) chooser.value = kept;
    describeCollection();
  }

  function describeCollection() {
    const c = collections.find((c) => c.name === $("collection").value);
    const line = $("collection-info");
    if (!c) {
      line.textContent = "";
      return;
    }
    const s = c.settings;
    const parts = [
      `${c.documents} documents, ${c.chunks} chunks`,
      `${c.backend}`,
      `embedder ${s.embedder}`,
      `chunking ${s.chunking.mode || JSON.stringify(s.chunking)}`,
      `BM25 k1 ${s.bm25.k1}, b ${s.bm25.b}`,
    ];
    if (c.late_interaction) parts.push(`token vectors of ${c.late_interaction.model} (${c.late_interaction.storage})`);
    line.textContent = parts.join(" · ");
    if (!$("manage-name").value) $("manage-name").value = c.name;
  }

  function manageName() {
    return $("manage-name").value.trim() || $("collection").value;
  }

  function say(id, text) {
    $(id).textContent = text;
  }

  async function createCollection(name) {
    const body = { chunking: $("manage-chunking").value };
    if ($("manage-late").value) body.late_interaction = $("manage-late").value;
    return api("PUT", collectionPath(name), body);
  }

  function setupManage() {
    $("collection").addEventListener("change", () => {
      $("manage-name").value = $("collection").value;
      describeCollection();
    });
    $("collections-refresh").addEventListener("click", () => loadCollections());
    $("manage-create").addEventListener("click", async () => {
      const name = manageName();
      if (!name) return say("manage-status", "Type a name first.");
      try {
        const created = await createCollection(name);
        say("manage-status", `Created ${created.name}.`);
        await loadCollections(name);
      } catch (err) {
        say("manage-status", `Not created: ${err.describe ? err.describe() : err.message}`);
      }
    });
    let armed = null;
    const disarm = () => {
      armed = null;
      $("manage-delete").textContent = "Delete…";
    };
    $("manage-delete").addEventListener("click", async () => {
      const name = manageName();
      if (!name) return say("manage-status", "Type or choose a collection first.");
      if (armed !== name) {
        armed = name;
        $("manage-delete").textContent = `Delete ${name} now`;
        say("manage-status", `Press the button again to delete ${name} and all its documents.`);
        setTimeout(() => armed === name && disarm(), 8000);
        return;
      }
      disarm();
      try {
        await api("DELETE", collectionPath(name));
        say("manage-status", `Deleted ${name}.`);
        if ($("manage-name").value === name) $("manage-name").value = "";
        await loadCollections();
      } catch (err) {
        say("manage-status", `Not deleted: ${err.describe ? err.describe() : err.message}`);
      }
    });
    $("manage-name").addEventListener("input", disarm);
    setupUpload();
  }

  // ---------------------------------------------------------------- upload

  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  /** Lines of a File as they stream in, with the bytes read so far. */
  async function* lines(file, signal) {
    const reader = file.stream().getReader();
    const decoder = new TextDecoder();
    let pending = "";
    let bytes = 0;
    for (;;) {
      if (signal.aborted) throw new DOMException("cancelled", "AbortError");
      const { done, value } = await reader.read();
      if (done) break;
      bytes += value.byteLength;
      pending += decoder.decode(value, { stream: true });
      const parts = pending.split("\n");
      pending = parts.pop();
      for (const line of parts) yield { line, bytes };
    }
    pending += decoder.decode();
    if (pending) yield { line: pending, bytes };
  }

  function setupUpload() {
    let controller = null;
    const progress = $("upload-progress");
    $("upload-cancel").addEventListener("click", () => controller && controller.abort());
    $("upload-start").addEventListener("click", async () => {
      const file = $("upload-file").files[0];
      const name = manageName();
      if (!file) return say("upload-status", "Choose a JSON Lines file first.");
      if (!name) return say("upload-status", "Type the collection's name first.");
      const limits = info ? info.limits : { max_inputs_per_request: 64, max_body_bytes: 2 << 20 };
      const perRequest = Math.max(1, Math.min(Number($("upload-batch").value) || 64, limits.max_inputs_per_request));
      // Requests stay well under the body limit; one document over it gets the API's 413.
      const maxBytes = Math.floor(limits.max_body_bytes * 0.8);
      controller = new AbortController();
      const signal = controller.signal;
      say("upload-status", `Uploading ${file.name} into ${name}…`);
      $("upload-start").disabled = true;
      $("upload-cancel").disabled = false;
      progress.max = file.size || 1;
      progress.value = 0;
      const totals = { documents: 0, written: 0, unchanged: 0, chunks: 0 };
      const report = (prefix) =>
        say(
          "upload-status",
          `${prefix}: ${totals.documents} documents sent (${totals.written} written, ${totals.unchanged} unchanged, ${totals.chunks} chunks).`,
        );
      const send = async (batch) => {
        for (let attempt = 0; ; attempt++) {
          try {
            const answer = await api("POST", `${collectionPath(name)}/documents`, { documents: batch }, signal);
            totals.documents += batch.length;
            totals.written += answer.written;
            totals.unchanged += answer.unchanged;
            totals.chunks += answer.chunks;
            return;
          } catch (err) {
            // Busy (429) or unavailable (503): wait as the server asks, a few times.
            if (err instanceof ApiError && (err.status === 429 || err.status === 503) && attempt < 5) {
              await sleep(1000 * (Number(err.retryAfter) || 1));
              continue;
            }
            throw err;
          }
        }
      };
      let lineNumber = 0;
      try {
        try {
          await api("GET", collectionPath(name), undefined, signal);
        } catch (err) {
          if (!(err instanceof ApiError) || err.status !== 404) throw err;
          await createCollection(name);
          say("manage-status", `Created ${name}.`);
        }
        let batch = [];
        let batchBytes = 0;
        for await (const { line, bytes } of lines(file, signal)) {
          lineNumber++;
          if (!line.trim()) continue;
          let doc;
          try {
            doc = JSON.parse(line);
          } catch (err) {
            throw new Error(`line ${lineNumber} is not JSON (${err.message})`);
          }
          if (doc === null || typeof doc !== "object" || Array.isArray(doc)) {
            throw new Error(`line ${lineNumber} is not a JSON object`);
          }
          if ("_id" in doc && !("id" in doc)) {
            doc.id = doc._id;
            delete doc._id;
          }
          const size = new TextEncoder().encode(JSON.stringify(doc)).length + 1;
          if (batch.length && (batch.length >= perRequest || batchBytes + size > maxBytes)) {
            await send(batch);
            batch = [];
            batchBytes = 0;
            progress.value = bytes;
            report("Uploading");
          }
          batch.push(doc);
          batchBytes += size;
        }
        if (batch.length) await send(batch);
        progress.value = progress.max;
        report("Done");
      } catch (err) {
        if (err.name === "AbortError") report("Cancelled (the requests already answered are written)");
        else {
          const reason = err instanceof ApiError ? err.describe() : err.message;
          report(`Stopped near line ${lineNumber} by ${reason}. Written before it`);
        }
      } finally {
        controller = null;
        $("upload-start").disabled = false;
        $("upload-cancel").disabled = true;
        await loadCollections(name);
      }
    });
  }

  // ---------------------------------------------------------------- configurations

  const configs = [];

  /** The pipeline controls of one configuration, in `fieldset`, ids prefixed `p`. */
  function buildConfig(fieldset, p, withReranker) {
    const id = (name) => `${p}-${name}`;
    const number = (name, label, attrs = {}) =>
      el("div", { class: "field" }, el("label", { for: id(name), text: label }), el("input", { id: id(name), type: "number", class: "narrow", ...attrs }));
    const select = (name, label, options) =>
      el(
        "div",
        { class: "field" },
        el("label", { for: id(name), text: label }),
        el("select", { id: id(name) }, ...options.map(([value, text]) => el("option", { value, text }))),
      );
    const stageList = el("ol", { id: id("stages"), class: "stages" });
    fieldset.append(
      el(
        "div",
        { class: "grid" },
        select("mode", "Stage 1", [
          ["hybrid", "hybrid (BM25 + dense)"],
          ["dense", "dense"],
          ["bm25", "BM25"],
        ]),
        number("k", "Results (k)", { min: 1, value: 10 }),
        number("depth", "Candidates per retriever", { min: 1, value: 100 }),
        select("fusion", "Fusion", [
          ["rrf", "RRF"],
          ["minmax", "min-max scores"],
          ["zscore", "z-scores"],
        ]),
        number("rrf-k", "RRF k", { min: 0, step: "any", value: 60 }),
        number("w-bm25", "BM25 weight", { min: 0, step: "any", value: 1 }),
        number("w-dense", "Dense weight", { min: 0, step: "any", value: 1 }),
        el(
          "div",
          { class: "field wide" },
          el("label", { for: id("filter"), text: "Filter" }),
          el("input", { id: id("filter"), type: "text", spellcheck: "false", placeholder: "year >= 2020 and lang = \"en\"" }),
        ),
      ),
      el(
        "fieldset",
        { class: "cascade" },
        el("legend", { text: "Rerank cascade (each stage rescores the previous one's top candidates)" }),
        stageList,
        el("button", { type: "button", id: id("add-stage"), text: "Add rerank stage", onclick: () => addStage() }),
      ),
      el(
        "div",
        { class: "grid" },
        select("fuse-stages", "Stage fusion", [
          ["", "none (reranker order)"],
          ["rrf", "RRF of stage 1 and reranker"],
          ["minmax", "min-max of both"],
          ["zscore", "z-scores of both"],
        ]),
        number("deadline", "Deadline (ms)", { min: 0 }),
        number("patience", "Adaptive patience", { min: 1 }),
        number("min-score", "Least reranker score", { step: "any" }),
        el("div", { class: "field check" }, el("input", { id: id("raw"), type: "checkbox" }), el("label", { for: id("raw"), text: "Raw logits" })),
        el("div", { class: "field check" }, el("input", { id: id("cache"), type: "checkbox", checked: true }), el("label", { for: id("cache"), text: "Use the result cache" })),
      ),
    );
    let stages = 0;
    const modelOptions = (selectNode) => {
      const kept = selectNode.value;
      selectNode.replaceChildren(...rerankers().map((r) => el("option", { value: r.name, text: `${r.name} (${r.kind})` })));
      if (rerankers().some((r) => r.name === kept)) selectNode.value = kept;
    };
    function addStage(candidates = 30) {
      const n = stages++;
      const model = el("select", { id: id(`stage-${n}-model`), class: "model" });
      modelOptions(model);
      const row = el(
        "li",
        { class: "row" },
        el("label", { for: model.id, text: "Reranker" }),
        model,
        el("label", { for: id(`stage-${n}-candidates`), text: "Candidates" }),
        el("input", { id: id(`stage-${n}-candidates`), type: "number", min: 1, value: candidates, class: "narrow candidates" }),
      );
      row.append(
        el("button", {
          type: "button",
          text: "Remove",
          "aria-label": `Remove rerank stage ${n + 1}`,
          onclick: () => {
            row.remove();
            $(id("add-stage")).focus();
          },
        }),
      );
      stageList.append(row);
    }
    const value = (name) => $(id(name)).value.trim();
    const num = (name) => (value(name) === "" ? undefined : Number(value(name)));
    const config = {
      prefix: p,
      refreshModels(lexicalOnly) {
        for (const s of stageList.querySelectorAll("select.model")) modelOptions(s);
        // Without a bi-encoder the server searches BM25 only.
        if (lexicalOnly) $(id("mode")).value = "bm25";
        if (withReranker && !stageList.children.length && rerankers().length) addStage();
      },
      /** The search body, and the stage-1-only body of the same retrieval. */
      bodies(query) {
        const mode = value("mode");
        const stage1 = { query, mode, k: num("k"), depth: num("depth"), cache: $(id("cache")).checked };
        if (value("filter")) stage1.filter = value("filter");
        if (mode === "hybrid") {
          const weights = [num("w-bm25") ?? 1, num("w-dense") ?? 1];
          stage1.fusion =
            value("fusion") === "rrf"
              ? { method: "rrf", k: num("rrf-k") ?? 60, weights }
              : { method: "linear", normalization: value("fusion"), weights };
        }
        const full = { ...stage1 };
        full.rerank = [...stageList.children].map((row) => ({
          model: row.querySelector("select.model").value,
          candidates: Number(row.querySelector("input.candidates").value) || undefined,
        }));
        if (full.rerank.length) {
          const fuse = value("fuse-stages");
          if (fuse) {
            full.fuse_stages =
              fuse === "rrf" ? { method: "rrf", k: 60, weights: [1, 1] } : { method: "linear", normalization: fuse, weights: [1, 1] };
          }
          if (num("deadline") !== undefined) full.deadline_ms = num("deadline");
          if (num("patience") !== undefined) full.adaptive_patience = num("patience");
          if (num("min-score") !== undefined) full.min_score = num("min-score");
          if ($(id("raw")).checked) full.raw_scores = true;
        }
        return { stage1, full };
      },
      /** A short name: "hybrid → model (30)". */
      describe() {
        const parts = [value("mode")];
        for (const row of stageList.children) {
          parts.push(`${row.querySelector("select.model").value} (${row.querySelector("input.candidates").value})`);
        }
        return parts.join(" → ");
      },
    };
    return config;
  }

  // ---------------------------------------------------------------- rendering

  const stem = (word) => word.replace(/(ies|es|s|ing|ed|ly)$/u, "") || word;

  function queryTerms(query) {
    const words = query.toLowerCase().match(/[\p{L}\p{N}]+/gu) || [];
    return new Set(words.filter((w) => w.length > 1 && !STOPWORDS.has(w)).map(stem));
  }

  /** `text` as text nodes, with the words matching a query term in `mark`. */
  function highlighted(text, terms) {
    const out = document.createDocumentFragment();
    let last = 0;
    for (const match of text.matchAll(/[\p{L}\p{N}]+/gu)) {
      if (!terms.has(stem(match[0].toLowerCase()))) continue;
      out.append(text.slice(last, match.index), el("mark", { text: match[0] }));
      last = match.index + match[0].length;
    }
    out.append(text.slice(last));
    return out;
  }

  function passage(text, terms) {
    const body = el("p", { class: "passage" });
    const show = (full) => {
      const shown = full || text.length <= TEXT_PREVIEW ? text : `${text.slice(0, TEXT_PREVIEW)}…`;
      body.replaceChildren(highlighted(shown, terms));
      if (text.length > TEXT_PREVIEW) {
        body.append(" ", el("button", { type: "button", class: "link", text: full ? "Show less" : "Show all", onclick: () => show(!full) }));
      }
    };
    show(false);
    return body;
  }

  const fmt = (x) => (typeof x === "number" ? (Math.abs(x) >= 100 ? x.toFixed(1) : x.toPrecision(4)) : "–");

  function scoreKind(kind) {
    if (!kind) return "";
    if (kind.by === "stage1") return `stage 1, ${kind.kind}`;
    if (kind.by === "reranker") return `reranker, ${kind.activation}`;
    return "stage 1 and reranker fused";
  }

  /** The ↑↓ badge of a final result against its stage-1 rank. */
  function movement(result) {
    const reranked = result.reranks.some((r) => r !== null);
    if (!reranked) return el("span", { class: "move same", text: "stage-1 order", title: "No reranker scored it" });
    const delta = result.stage1.rank - result.rank;
    if (delta > 0) {
      return el("span", { class: "move up", text: `↑${delta}`, "aria-label": `up ${delta} from stage-1 rank ${result.stage1.rank}`, title: `stage-1 rank ${result.stage1.rank}` });
    }
    if (delta < 0) {
      return el("span", { class: "move down", text: `↓${-delta}`, "aria-label": `down ${-delta} from stage-1 rank ${result.stage1.rank}`, title: `stage-1 rank ${result.stage1.rank}` });
    }
    return el("span", { class: "move same", text: "=", "aria-label": "same place as in stage 1", title: "same place as in stage 1" });
  }

  function metadata(value) {
    if (value === null || value === undefined) return null;
    return el("details", { class: "metadata" }, el("summary", { text: "metadata" }), el("pre", { text: JSON.stringify(value, null, 2) }));
  }

  /** One result: rank, title, id, badges, scores, passage, metadata. */
  function resultItem(result, terms, extra, hybrid) {
    const scores = el("ul", { class: "scores" });
    const stage1 = `stage 1: #${result.stage1.rank}, ${fmt(result.stage1.score)}`;
    if (result.score_kind.by === "stage1" && !result.reranks.length) {
      // Stage 1 alone: its score is the final one.
      scores.append(el("li", { class: "final", text: `${stage1} (${result.score_kind.kind})` }));
    } else {
      scores.append(el("li", { text: stage1 }));
      result.reranks.forEach((place, i) => {
        scores.append(el("li", { text: place ? `stage ${i + 2}: #${place.rank}, ${fmt(place.score)}` : `stage ${i + 2}: not scored` }));
      });
      scores.append(el("li", { class: "final", text: `score ${fmt(result.score)} (${scoreKind(result.score_kind)})` }));
    }
    if (hybrid) {
      // Where each retriever put it before fusion ("–": not in that list).
      const place = (p) => (p ? `#${p.rank}` : "–");
      scores.append(el("li", { class: "retrievers", text: `BM25 ${place(result.retrievers.bm25)} · dense ${place(result.retrievers.dense)}` }));
    }
    return el(
      "li",
      { class: "result", "data-id": result.id },
      el("div", { class: "head" }, el("span", { class: "rank", text: `#${result.rank}` }), extra, el("span", { class: "title", text: result.title || "(no title)" })),
      el("div", { class: "id", text: result.id }),
      scores,
      passage(result.text, terms),
      metadata(result.metadata),
    );
  }

  function column(title, subtitle, items) {
    return el("section", { class: "column" }, el("h3", { text: title }), el("p", { class: "subtle", text: subtitle }), el("ol", { class: "results" }, ...items));
  }

  function report(label, answer, roundTripMs, body, name) {
    const rows = answer.stages.map((s) =>
      el(
        "tr",
        {},
        el("th", { scope: "row", text: s.name }),
        el("td", { text: String(s.documents) }),
        el("td", { text: String(s.pairs) }),
        el("td", { text: s.elapsed_ms.toFixed(1) }),
        el("td", { class: s.stopped ? "stopped" : "", text: s.stopped ? `stopped: ${s.stopped === "deadline" ? "⏱ deadline" : "adaptive"}` : "" }),
      ),
    );
    const notes = [];
    if (answer.deadline_exceeded) notes.push(el("p", { class: "warn", text: "⏱ The deadline cut a stage short: the unscored tail keeps the previous stage's order." }));
    if (answer.cache) notes.push(el("p", { class: "note", text: `Answered from the result cache (${answer.cache.level}, stored ${fmt(answer.cache.age_ms)} ms ago): the times are the stored run's.` }));
    return el(
      "div",
      { class: "report" },
      el(
        "table",
        {},
        el("caption", { text: `${label}: ${fmt(roundTripMs)} ms round trip` }),
        el("thead", {}, el("tr", {}, ...["stage", "documents", "pairs scored", "ms", ""].map((h) => el("th", { scope: "col", text: h })))),
        el("tbody", {}, ...rows),
      ),
      ...notes,
      el("details", { class: "request" }, el("summary", { text: "Request" }), el("pre", { text: `POST ${collectionPath(name)}/search\n${JSON.stringify(body, null, 2)}` })),
    );
  }

  async function timed(name, body) {
    const start = performance.now();
    const answer = await api("POST", `${collectionPath(name)}/search`, body);
    return { answer, ms: performance.now() - start, body };
  }

  async function runSearch(event) {
    event.preventDefault();
    const name = $("collection").value;
    const query = $("query").value;
    showError(null);
    if (!name) return showError(new Error("Choose a collection first (or create one and upload documents)."));
    if (!query.trim()) return showError(new Error("Type a query first."));
    const terms = queryTerms(query);
    const button = $("search");
    button.disabled = true;
    $("results").setAttribute("aria-busy", "true");
    try {
      const a = configs[0];
      if ($("compare").checked) {
        const b = configs[1];
        const [ra, rb] = await Promise.all([timed(name, a.bodies(query).full), timed(name, b.bodies(query).full)]);
        renderCompare(name, terms, a, ra, b, rb);
      } else {
        const { stage1, full } = a.bodies(query);
        const [r1, rf] = await Promise.all([timed(name, stage1), timed(name, full)]);
        renderStages(name, terms, a, r1, rf);
      }
    } catch (err) {
      showError(err);
    } finally {
      button.disabled = false;
      $("results").removeAttribute("aria-busy");
    }
  }

  /** Stage 1 order | final order, for one configuration. */
  function renderStages(name, terms, config, stage1, final) {
    const hybrid = stage1.body.mode === "hybrid";
    const finalRank = new Map(final.answer.results.map((r) => [r.id, r.rank]));
    const left = stage1.answer.results.map((r) => {
      const to = finalRank.get(r.id);
      const fate =
        to === undefined
          ? el("span", { class: "move dropped", text: "dropped", "aria-label": "not in the final top k", title: "not in the final top k" })
          : el("span", { class: "move kept", text: `→ #${to}`, "aria-label": `final rank ${to}` });
      return resultItem(r, terms, fate, hybrid);
    });
    const right = final.answer.results.map((r) => resultItem(r, terms, movement(r), hybrid));
    const kept = final.answer.results.filter((r) => stage1.answer.results.some((s) => s.id === r.id)).length;
    $("summary").textContent = `${final.answer.results.length} results; ${kept} of them were in stage 1's top ${stage1.answer.results.length}.`;
    $("reports").replaceChildren(report("Final", final.answer, final.ms, final.body, name));
    $("results").replaceChildren(
      column("Stage 1", `${config.bodies("").stage1.mode} alone`, left),
      column("Final", config.describe(), right),
    );
  }

  /** Configuration A | configuration B, with the overlap of their top k. */
  function renderCompare(name, terms, a, ra, b, rb) {
    const rankIn = (answer) => new Map(answer.results.map((r) => [r.id, r.rank]));
    const inA = rankIn(ra.answer);
    const inB = rankIn(rb.answer);
    const other = (ranks, label) => (r) => {
      const at = ranks.get(r.id);
      return at === undefined
        ? el("span", { class: "move dropped", text: `not in ${label}`, title: `not in ${label}'s top k` })
        : el("span", { class: "move kept", text: `${label} #${at}`, "aria-label": `rank ${at} in ${label}` });
    };
    const shared = ra.answer.results.filter((r) => inB.has(r.id)).length;
    const k = Math.max(ra.answer.results.length, rb.answer.results.length);
    $("summary").textContent = `Overlap of the top ${k}: ${shared} of ${k} documents (${k ? Math.round((100 * shared) / k) : 0} %).`;
    $("reports").replaceChildren(report("A", ra.answer, ra.ms, ra.body, name), report("B", rb.answer, rb.ms, rb.body, name));
    $("results").replaceChildren(
      column("A", a.describe(), ra.answer.results.map((r) => resultItem(r, terms, other(inB, "B")(r), ra.body.mode === "hybrid"))),
      column("B", b.describe(), rb.answer.results.map((r) => resultItem(r, terms, other(inA, "A")(r), rb.body.mode === "hybrid"))),
    );
  }

  // ---------------------------------------------------------------- start

  function start() {
    configs.push(buildConfig($("config-a"), "a", true), buildConfig($("config-b"), "b", false));
    $("compare").addEventListener("change", () => {
      $("config-b").hidden = !$("compare").checked;
    });
    $("search-form").addEventListener("submit", runSearch);
    setupKey();
    setupManage();
    loadServer();
  }

  start();
})();
