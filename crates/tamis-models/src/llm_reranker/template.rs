//! The prompt templates of the decoder rerankers, as their reference code builds them,
//! cut into the rows one query shares and the rows each document adds.

use std::path::PathBuf;

use tokenizers::Tokenizer;

use crate::{Error, Result};

/// Which decoder reranker a model is: it fixes the prompt and how the score is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RerankerKind {
    /// Qwen3-Reranker: a chat prompt with an instruction; the score is the probability
    /// of "yes" against "no" at the last position, `sigmoid(logit_yes − logit_no)`.
    Qwen3,
    /// mxbai-rerank-v2: its own prompt; the score is `logit("1") − logit("0")`.
    MxbaiV2,
}

/// Hub ids whose template is known, so that loading them by id needs no flag.
const KNOWN_MODELS: [(&str, RerankerKind); 5] = [
    ("Qwen/Qwen3-Reranker-0.6B", RerankerKind::Qwen3),
    ("Qwen/Qwen3-Reranker-4B", RerankerKind::Qwen3),
    ("Qwen/Qwen3-Reranker-8B", RerankerKind::Qwen3),
    ("mixedbread-ai/mxbai-rerank-base-v2", RerankerKind::MxbaiV2),
    ("mixedbread-ai/mxbai-rerank-large-v2", RerankerKind::MxbaiV2),
];

impl RerankerKind {
    /// Every kind, with the name `--reranker-kind` takes.
    pub const ALL: [(&'static str, RerankerKind); 2] =
        [("qwen3", RerankerKind::Qwen3), ("mxbai-v2", RerankerKind::MxbaiV2)];

    /// The kind named `name` (`qwen3`, `mxbai-v2`).
    pub fn from_name(name: &str) -> Option<RerankerKind> {
        Self::ALL.iter().find(|(n, _)| *n == name).map(|(_, kind)| *kind)
    }

    /// The name `--reranker-kind` takes.
    pub fn name(self) -> &'static str {
        Self::ALL.iter().find(|(_, k)| *k == self).map_or("?", |(n, _)| n)
    }

    /// The kind of a known hub repository (matched without regard to case, as the hub does).
    pub fn of_hub_repo(repo: &str) -> Option<RerankerKind> {
        KNOWN_MODELS.iter().find(|(id, _)| id.eq_ignore_ascii_case(repo)).map(|(_, kind)| *kind)
    }

    /// The kind of a directory inside the Hugging Face cache
    /// (`…/models--{org}--{name}/snapshots/{commit}`) of a known repository.
    pub fn of_cache_path(path: &std::path::Path) -> Option<RerankerKind> {
        let mut parts = path.components().rev().filter_map(|c| c.as_os_str().to_str());
        let (_commit, snapshots, repo) = (parts.next()?, parts.next()?, parts.next()?);
        let repo = repo.strip_prefix("models--").filter(|_| snapshots == "snapshots")?;
        Self::of_hub_repo(&repo.replacen("--", "/", 1))
    }

    /// The instruction used when none is given (`None`: the prompt then has none).
    pub fn default_instruction(self) -> Option<&'static str> {
        match self {
            RerankerKind::Qwen3 => Some(QWEN3_INSTRUCTION),
            RerankerKind::MxbaiV2 => None,
        }
    }

    /// The tokens whose logits make the score: (relevant, not relevant).
    fn answer_tokens(self) -> (&'static str, &'static str) {
        match self {
            RerankerKind::Qwen3 => ("yes", "no"),
            RerankerKind::MxbaiV2 => ("1", "0"),
        }
    }
}

impl std::fmt::Display for RerankerKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

// Qwen3-Reranker's strings, verbatim from its model card (the transformers usage).
const QWEN3_PREFIX: &str = "<|im_start|>system\nJudge whether the Document meets the requirements based on the Query and the Instruct provided. Note that the answer can only be \"yes\" or \"no\".<|im_end|>\n<|im_start|>user\n";
const QWEN3_SUFFIX: &str = "<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n";
const QWEN3_INSTRUCTION: &str =
    "Given a web search query, retrieve relevant passages that answer the query";

// mxbai-rerank-v2's strings, verbatim from `mxbai_rerank/mxbai_rerank_v2.py`.
const MXBAI_PREFIX: &str = "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n<|im_start|>user\n";
const MXBAI_SUFFIX: &str = "<|im_end|>\n<|im_start|>assistant\n";
const MXBAI_SEP: &str = "\n";
const MXBAI_TASK: &str = "You are a search relevance expert who evaluates how well documents match search queries. For each query-document pair, carefully analyze the semantic relationship between them, then provide your binary relevance judgment (0 for not relevant, 1 for relevant).\nRelevance:";

/// One document's rows after the shared prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DocumentRows {
    pub(crate) ids: Vec<u32>,
    /// Document tokens cut to fit the maximum length.
    pub(crate) dropped_tokens: usize,
}

/// A query's prompt: the rows every document shares, then each document's own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Prompt {
    pub(crate) prefix: Vec<u32>,
    pub(crate) documents: Vec<DocumentRows>,
}

/// A template's fixed token ids, tokenized once at load.
#[derive(Debug)]
pub(crate) struct Template {
    kind: RerankerKind,
    tokenizer: Tokenizer,
    path: PathBuf,
    /// Tokens in a whole prompt, scaffolding included.
    max_length: usize,
    prefix: Vec<u32>,
    suffix: Vec<u32>,
    /// mxbai: the separator and the task prompt.
    sep: Vec<u32>,
    task: Vec<u32>,
    /// The ids of the relevant / not relevant answers.
    pub(crate) answers: (u32, u32),
}

impl Template {
    /// Prepares `kind`'s template for `tokenizer` (loaded from `path`), for prompts of
    /// at most `max_length` tokens (default: the reference code's, which for mxbai counts
    /// the query and document only), never more than `limit`; an error when an answer
    /// word is not a single token or the scaffolding alone leaves no room.
    pub(crate) fn new(
        kind: RerankerKind,
        tokenizer: Tokenizer,
        path: PathBuf,
        max_length: Option<usize>,
        limit: usize,
    ) -> Result<Template> {
        let mut template = Template {
            kind,
            tokenizer,
            path,
            max_length: 0,
            prefix: Vec::new(),
            suffix: Vec::new(),
            sep: Vec::new(),
            task: Vec::new(),
            answers: (0, 0),
        };
        let (yes, no) = kind.answer_tokens();
        template.answers = (template.single_token(yes)?, template.single_token(no)?);
        match kind {
            RerankerKind::Qwen3 => {
                template.prefix = template.encode(QWEN3_PREFIX)?;
                template.suffix = template.encode(QWEN3_SUFFIX)?;
            }
            RerankerKind::MxbaiV2 => {
                template.prefix = template.encode(MXBAI_PREFIX)?;
                template.suffix = template.encode(MXBAI_SUFFIX)?;
                template.sep = template.encode(MXBAI_SEP)?;
                template.task = template.encode(MXBAI_TASK)?;
            }
        }
        let fixed = template.fixed_len();
        let max_length = max_length
            .unwrap_or(match kind {
                RerankerKind::Qwen3 => 8192,
                RerankerKind::MxbaiV2 => 8192 + fixed,
            })
            .min(limit);
        template.max_length = max_length;
        if fixed >= max_length {
            return Err(Error::InvalidOption {
                name: "max_length",
                message: format!(
                    "{max_length} tokens leave no room for a query and a document: the {kind} template alone takes {fixed}"
                ),
            });
        }
        Ok(template)
    }

    pub(crate) fn kind(&self) -> RerankerKind {
        self.kind
    }

    /// Tokens of the template outside the span its reference cuts to fit: Qwen3's
    /// prefix and suffix; mxbai's prefix, task prompt, suffix and one separator (the
    /// package's `predefined_length`; the separator between query and document counts
    /// against its `max_length`).
    pub(crate) fn fixed_len(&self) -> usize {
        self.prefix.len() + self.suffix.len() + self.sep.len() + self.task.len()
    }

    pub(crate) fn max_length(&self) -> usize {
        self.max_length
    }

    /// The ids of `text`, no special tokens added (added tokens such as `<|im_end|>`
    /// in the text are still matched, as the reference tokenizers match them).
    pub(crate) fn encode(&self, text: &str) -> Result<Vec<u32>> {
        self.tokenizer
            .encode(text, false)
            .map(|e| e.get_ids().to_vec())
            .map_err(|e| Error::Tokenizer { path: self.path.clone(), message: e.to_string() })
    }

    /// Tokens in the tokenizer, added tokens included (ids are below it).
    pub(crate) fn vocab_size(&self) -> usize {
        self.tokenizer.get_vocab_size(true)
    }

    /// The byte ranges of `text`'s tokens.
    pub(crate) fn offsets(&self, text: &str) -> Result<Vec<(usize, usize)>> {
        self.tokenizer
            .encode(text, false)
            .map(|e| e.get_offsets().to_vec())
            .map_err(|e| Error::Tokenizer { path: self.path.clone(), message: e.to_string() })
    }

    /// The id of `word`, which must be one token (the score reads its logit).
    fn single_token(&self, word: &str) -> Result<u32> {
        match self.encode(word)?[..] {
            [id] => Ok(id),
            ref ids => Err(Error::Tokenizer {
                path: self.path.clone(),
                message: format!(
                    "the {} template scores the token \"{word}\", but this tokenizer splits it into {} tokens {ids:?}: it is not the model's tokenizer, or the model needs another --reranker-kind",
                    self.kind,
                    ids.len()
                ),
            }),
        }
    }

    /// The prompt for `query` and each of `documents`, cut as the reference cuts it.
    pub(crate) fn prompt(
        &self,
        query: &str,
        instruction: Option<&str>,
        documents: &[&str],
    ) -> Result<Prompt> {
        match self.kind {
            RerankerKind::Qwen3 => self.qwen3(query, instruction, documents),
            RerankerKind::MxbaiV2 => self.mxbai(query, instruction, documents),
        }
    }

    /// Qwen3-Reranker: the prefix, the tokens of
    /// `"<Instruct>: {I}\n<Query>: {Q}\n<Document>: {D}"`, then the suffix, the middle
    /// cut from the right to fit. The reference tokenizes the
    /// middle as one string; it is tokenized here as the query part and the document
    /// part, which gives the same ids because no pre-token of the Qwen tokenizer spans
    /// the newline before `<Document>` (checked on every fixture case). The query part
    /// is the shared prefix. Unlike the reference, a query too long to leave room for
    /// `<Document>:` is an error, not a prompt with its scaffolding cut.
    fn qwen3(&self, query: &str, instruction: Option<&str>, documents: &[&str]) -> Result<Prompt> {
        let instruction = instruction.unwrap_or(QWEN3_INSTRUCTION);
        let query_ids = self.encode(&format!("<Instruct>: {instruction}\n<Query>: {query}\n"))?;
        let scaffold = self.encode("<Document>:")?.len();
        let budget = self.max_length - self.prefix.len() - self.suffix.len();
        let room = budget.checked_sub(query_ids.len()).filter(|room| *room >= scaffold);
        let Some(room) = room else {
            return Err(self.query_too_long(
                self.prefix.len() + query_ids.len() + scaffold + self.suffix.len(),
            ));
        };
        let mut prefix = self.prefix.clone();
        prefix.extend(query_ids);
        let documents = documents
            .iter()
            .map(|document| {
                let mut ids = self.encode(&format!("<Document>: {document}"))?;
                let dropped_tokens = ids.len().saturating_sub(room);
                ids.truncate(room);
                ids.extend_from_slice(&self.suffix);
                Ok(DocumentRows { ids, dropped_tokens })
            })
            .collect::<Result<_>>()?;
        Ok(Prompt { prefix, documents })
    }

    /// mxbai-rerank-v2: `prefix + query + sep + document + sep + task + suffix`, each
    /// part tokenized on its own; the query part (`instruction: {I}\nquery: {Q}` or
    /// `query: {Q}`) cut to 3/4 of the span, the document part (`document: {D}`) to
    /// what remains. A cut query counts as truncation too.
    fn mxbai(&self, query: &str, instruction: Option<&str>, documents: &[&str]) -> Result<Prompt> {
        let text = match instruction.filter(|i| !i.is_empty()) {
            Some(instruction) => format!("instruction: {instruction}\nquery: {query}"),
            None => format!("query: {query}"),
        };
        // `max_length` counts the whole prompt here; the package's own `max_length`
        // counts the query, separator and document only.
        let parts = self.max_length - self.fixed_len();
        let mut query_ids = self.encode(&text)?;
        let query_dropped = query_ids.len().saturating_sub(parts * 3 / 4);
        query_ids.truncate(parts * 3 / 4);
        let room = parts.saturating_sub(query_ids.len() + self.sep.len());
        let mut prefix = self.prefix.clone();
        prefix.extend(query_ids);
        prefix.extend_from_slice(&self.sep);
        let documents = documents
            .iter()
            .map(|document| {
                let mut ids = self.encode(&format!("document: {document}"))?;
                let dropped_tokens = query_dropped + ids.len().saturating_sub(room);
                ids.truncate(room);
                ids.extend_from_slice(&self.sep);
                ids.extend_from_slice(&self.task);
                ids.extend_from_slice(&self.suffix);
                Ok(DocumentRows { ids, dropped_tokens })
            })
            .collect::<Result<_>>()?;
        Ok(Prompt { prefix, documents })
    }

    fn query_too_long(&self, needed: usize) -> Error {
        Error::InvalidOption {
            name: "query",
            message: format!(
                "the instruction and query leave no room for a document: the prompt needs {needed} tokens before any document text, the maximum length is {}; shorten the query or raise max_length",
                self.max_length
            ),
        }
    }
}
