//! Training groups from a judged dataset and a stage-1 ranking of each query: every
//! judged-relevant document of a query, with hard negatives drawn from the ranking.

use std::collections::HashSet;

#[cfg(test)]
mod tests;

/// One training query.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryExample {
    /// The query's text.
    pub text: String,
    /// Documents judged relevant (relevance above 0): each yields a group per epoch.
    pub positives: Vec<String>,
    /// Stage 1's ranking of the corpus for the query, best first.
    pub ranking: Vec<String>,
}

/// Which ranks of a stage-1 ranking negatives come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NegativeWindow {
    /// Negatives per group.
    pub negatives: usize,
    /// Ranks skipped at the top: the best unjudged documents are often relevant.
    pub skip: usize,
    /// Ranks beyond this are never drawn.
    pub depth: usize,
}

/// One group: a query and its documents, the positive first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    /// Index of the query in the examples.
    pub query: usize,
    /// The positive, then the negatives.
    pub documents: Vec<String>,
}

/// The groups of one epoch and what could not be made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Epoch {
    /// The groups, shuffled.
    pub groups: Vec<Group>,
    /// Queries left out because their window holds fewer than `negatives` documents
    /// that are not judged relevant.
    pub short_windows: usize,
}

/// The groups of epoch `epoch`: for each query and each of its positives, the positive
/// and `window.negatives` documents drawn without replacement from ranks
/// `window.skip..window.depth` of its ranking, leaving out every document judged
/// relevant. The draws and the order of the groups depend only on `seed` and `epoch`.
pub fn epoch_groups(
    queries: &[QueryExample],
    window: NegativeWindow,
    seed: u64,
    epoch: u64,
) -> Epoch {
    let mut random = Random::new(seed ^ epoch.wrapping_mul(0xA076_1D64_78BD_642F));
    let mut groups = Vec::new();
    let mut short_windows = 0;
    for (query, example) in queries.iter().enumerate() {
        let relevant: HashSet<&str> = example.positives.iter().map(String::as_str).collect();
        let end = window.depth.min(example.ranking.len());
        let mut pool: Vec<&String> = example
            .ranking
            .get(window.skip.min(end)..end)
            .unwrap_or_default()
            .iter()
            .filter(|doc| !relevant.contains(doc.as_str()))
            .collect();
        if pool.len() < window.negatives {
            short_windows += 1;
            continue;
        }
        for positive in &example.positives {
            // A partial Fisher–Yates shuffle: the first `negatives` entries are a uniform
            // draw without replacement.
            for i in 0..window.negatives {
                let j = i + random.below(pool.len() - i);
                pool.swap(i, j);
            }
            let mut documents = Vec::with_capacity(1 + window.negatives);
            documents.push(positive.clone());
            documents.extend(pool[..window.negatives].iter().map(|doc| (*doc).clone()));
            groups.push(Group { query, documents });
        }
    }
    for i in (1..groups.len()).rev() {
        let j = random.below(i + 1);
        groups.swap(i, j);
    }
    Epoch { groups, short_windows }
}

/// SplitMix64: a small, seedable generator whose stream is fixed by its seed.
#[derive(Debug)]
struct Random(u64);

impl Random {
    fn new(seed: u64) -> Random {
        Random(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n` > 0), by Lemire's multiply-shift (its bias, below
    /// n / 2⁶⁴, is immaterial here).
    fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next()) * n as u128) >> 64) as usize
    }
}
