//! Fake models for fast pipeline tests: deterministic, no weights, no downloads.

use tamis_core::{Embedder, TextRole, Tokenize};

/// Embeds text as a normalized bag of hashed lowercase words in 64 dimensions, so texts
/// sharing words are close. Tokens are whitespace-separated words; 64 per input at most.
#[derive(Debug, Clone, Copy, Default)]
pub struct HashEmbedder;

/// Dimensions of [`HashEmbedder`] vectors.
pub const HASH_DIMENSION: usize = 64;

fn words(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.split_whitespace().map(move |w| (w.as_ptr() as usize - text.as_ptr() as usize, w))
}

impl Embedder for HashEmbedder {
    fn dimension(&self) -> usize {
        HASH_DIMENSION
    }

    fn embed(&self, texts: &[&str], _role: TextRole) -> tamis_core::Result<Vec<Vec<f32>>> {
        Ok(texts
            .iter()
            .map(|text| {
                let mut vector = vec![0.0f32; HASH_DIMENSION];
                // A constant component keeps every vector non-zero.
                vector[0] = 0.1;
                for (_, word) in words(text) {
                    vector[bucket(word)] += 1.0;
                }
                let norm = vector.iter().map(|x| x * x).sum::<f32>().sqrt();
                vector.iter_mut().for_each(|x| *x /= norm);
                vector
            })
            .collect())
    }

    /// The sorted buckets of its words: a vector depends on nothing else.
    fn query_key(&self, query: &str) -> tamis_core::Result<Option<Vec<u32>>> {
        let mut buckets: Vec<u32> = words(query).map(|(_, word)| bucket(word) as u32).collect();
        buckets.sort_unstable();
        Ok(Some(buckets))
    }
}

/// The dimension a word adds to in a [`HashEmbedder`] vector.
fn bucket(word: &str) -> usize {
    let hash = word
        .to_lowercase()
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ b as u64).wrapping_mul(0x100_0000_01b3));
    1 + (hash % (HASH_DIMENSION as u64 - 1)) as usize
}

impl Tokenize for HashEmbedder {
    fn token_offsets(&self, text: &str) -> tamis_core::Result<Vec<(usize, usize)>> {
        Ok(words(text).map(|(start, word)| (start, start + word.len())).collect())
    }

    fn max_tokens(&self) -> usize {
        64
    }
}

/// Scores a passage by the share of the query's distinct lowercase words it contains, as
/// a raw logit-like number in 0..1; counts the pairs it scored and can be made slow, so
/// tests can see caching, deadlines and adaptive depth from the outside.
#[derive(Debug, Default)]
pub struct OverlapReranker {
    pairs: std::sync::atomic::AtomicUsize,
    /// Time spent per pair, to exercise deadlines.
    pub delay_per_pair: std::time::Duration,
}

impl OverlapReranker {
    /// A reranker that takes `delay_per_pair` per pair.
    pub fn slow(delay_per_pair: std::time::Duration) -> Self {
        OverlapReranker { delay_per_pair, ..Default::default() }
    }

    /// Pairs scored so far.
    pub fn pairs_scored(&self) -> usize {
        self.pairs.load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl tamis_core::Reranker for OverlapReranker {
    fn score_contract(&self) -> tamis_core::ScoreContract {
        tamis_core::ScoreContract { activation: tamis_core::ScoreActivation::Identity }
    }

    fn score(
        &self,
        query: &str,
        passages: &[&str],
    ) -> tamis_core::Result<Vec<tamis_core::PairScore>> {
        self.pairs.fetch_add(passages.len(), std::sync::atomic::Ordering::Relaxed);
        std::thread::sleep(self.delay_per_pair * passages.len() as u32);
        let query: std::collections::BTreeSet<String> =
            words(query).map(|(_, w)| w.to_lowercase()).collect();
        Ok(passages
            .iter()
            .map(|passage| {
                let passage: std::collections::HashSet<String> =
                    words(passage).map(|(_, w)| w.to_lowercase()).collect();
                let shared = query.iter().filter(|w| passage.contains(*w)).count();
                let score = shared as f32 / query.len().max(1) as f32;
                tamis_core::PairScore { score, logit: score, truncated: false, dropped_tokens: 0 }
            })
            .collect())
    }

    /// Its distinct lowercase words, sorted, as characters with a 0 after each word: a
    /// score depends on nothing else.
    fn query_key(&self, query: &str) -> tamis_core::Result<Option<Vec<u32>>> {
        let distinct: std::collections::BTreeSet<String> =
            words(query).map(|(_, w)| w.to_lowercase()).collect();
        let key = distinct.iter().flat_map(|w| w.chars().map(u32::from).chain([0])).collect();
        Ok(Some(key))
    }
}

/// `n` distinct texts of six words from a 400-word vocabulary (seeded, the same on every
/// run), for HNSW tests with [`HashEmbedder`]: each text's nearest neighbour is itself
/// (cosine 1), and the bags of words spread the vectors so that a graph walk with a
/// tiny `ef` misses some of them.
pub fn word_bags(n: usize) -> Vec<String> {
    let mut rng = SeededRng(0x9e37_79b9_7f4a_7c15);
    let mut seen = std::collections::HashSet::new();
    let mut texts = Vec::with_capacity(n);
    while texts.len() < n {
        let words: Vec<String> = (0..6).map(|_| format!("w{}", rng.next_u64() % 400)).collect();
        let text = words.join(" ");
        if seen.insert(text.clone()) {
            texts.push(text);
        }
    }
    texts
}

/// xorshift64*: a small seeded generator, so a test or benchmark draws the same values on
/// every run. The seed must not be 0.
#[derive(Debug, Clone)]
pub struct SeededRng(pub u64);

impl SeededRng {
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A value in `0..n` (`n` above 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// A value in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// A late-interaction fake: one vector per whitespace word (the unit vector of its
/// [`HashEmbedder`] bucket), so MaxSim counts the query's words found in a passage. Counts
/// the texts it encodes per role, so tests can see stored vectors being used.
#[derive(Debug, Default)]
pub struct HashTokenEmbedder {
    queries: std::sync::atomic::AtomicUsize,
    documents: std::sync::atomic::AtomicUsize,
}

impl HashTokenEmbedder {
    /// Query texts encoded so far.
    pub fn queries_encoded(&self) -> usize {
        self.queries.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Document texts encoded so far.
    pub fn documents_encoded(&self) -> usize {
        self.documents.load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl tamis_core::TokenEmbedder for HashTokenEmbedder {
    fn dimension(&self) -> usize {
        HASH_DIMENSION
    }

    fn embed_tokens(
        &self,
        texts: &[&str],
        role: TextRole,
    ) -> tamis_core::Result<Vec<tamis_core::TokenMatrix>> {
        let counter = match role {
            TextRole::Query => &self.queries,
            TextRole::Document => &self.documents,
        };
        counter.fetch_add(texts.len(), std::sync::atomic::Ordering::Relaxed);
        Ok(texts
            .iter()
            .map(|text| {
                let mut data = Vec::new();
                for (_, word) in words(text) {
                    let mut row = [0.0f32; HASH_DIMENSION];
                    row[bucket(word)] = 1.0;
                    data.extend_from_slice(&row);
                }
                tamis_core::TokenMatrix { dim: HASH_DIMENSION, data }
            })
            .collect())
    }

    fn max_sim(
        &self,
        query: &tamis_core::TokenMatrix,
        documents: &[f32],
        rows: &[usize],
    ) -> tamis_core::Result<Vec<f32>> {
        let mut start = 0;
        Ok(rows
            .iter()
            .map(|&n| {
                let document = &documents[start * HASH_DIMENSION..(start + n) * HASH_DIMENSION];
                start += n;
                (0..query.rows())
                    .map(|q| {
                        let q = query.row(q);
                        document
                            .chunks_exact(HASH_DIMENSION)
                            .map(|d| q.iter().zip(d).map(|(a, b)| a * b).sum::<f32>())
                            .fold(0.0f32, f32::max)
                    })
                    .sum()
            })
            .collect())
    }
}

impl tamis_core::Reranker for HashTokenEmbedder {
    fn score_contract(&self) -> tamis_core::ScoreContract {
        tamis_core::ScoreContract { activation: tamis_core::ScoreActivation::Identity }
    }

    /// MaxSim, encoding the query and every passage.
    fn score(
        &self,
        query: &str,
        passages: &[&str],
    ) -> tamis_core::Result<Vec<tamis_core::PairScore>> {
        use tamis_core::TokenEmbedder;
        let query = self.embed_tokens(&[query], TextRole::Query)?.remove(0);
        let documents = self.embed_tokens(passages, TextRole::Document)?;
        let rows: Vec<usize> = documents.iter().map(tamis_core::TokenMatrix::rows).collect();
        let data: Vec<f32> = documents.into_iter().flat_map(|m| m.data).collect();
        let scores = self.max_sim(&query, &data, &rows)?;
        Ok(scores
            .into_iter()
            .map(|score| tamis_core::PairScore {
                score,
                logit: score,
                truncated: false,
                dropped_tokens: 0,
            })
            .collect())
    }
}
