//! Training groups from a judged dataset and a stage-1 ranking of each query: every
//! judged-relevant document of a query, with hard negatives drawn from the ranking and,
//! if asked, random ones drawn from the whole corpus.

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

/// Which ranks of a stage-1 ranking negatives come from, and which positives make groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NegativeWindow {
    /// Negatives per group, `random` of them included.
    pub negatives: usize,
    /// Ranks skipped at the top: the best unjudged documents are often relevant.
    pub skip: usize,
    /// Ranks beyond this are never drawn.
    pub depth: usize,
    /// Of the negatives, how many are drawn uniformly from the whole corpus rather than
    /// from the window: they teach that an unrelated document is not relevant, which
    /// hard negatives alone never show.
    pub random: usize,
    /// Only positives that the ranking places within its top this many make groups
    /// (`None`: every positive). Positives stage 1 never retrieves look unrelated to
    /// the query, and beside hard negatives that do look related they teach the
    /// opposite of relevance.
    pub positives_within: Option<usize>,
}

impl NegativeWindow {
    /// A window of `negatives` hard negatives from ranks `skip..depth`, no random ones,
    /// every positive.
    pub fn new(negatives: usize, skip: usize, depth: usize) -> NegativeWindow {
        NegativeWindow { negatives, skip, depth, random: 0, positives_within: None }
    }

    /// Negatives drawn from the window.
    pub fn hard(&self) -> usize {
        self.negatives.saturating_sub(self.random)
    }
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
    /// Queries left out because their window holds fewer than the hard negatives'
    /// count of documents not judged relevant, or the corpus too few for the random ones.
    pub short_windows: usize,
    /// Queries left out because none of their positives ranks within
    /// [`NegativeWindow::positives_within`].
    pub unranked_positives: usize,
}

/// The groups of epoch `epoch`: for each query and each of its positives (those ranked
/// within `window.positives_within` when set), the positive, `window.hard()` documents
/// drawn without replacement from ranks `window.skip..window.depth` of its ranking, and
/// `window.random` documents drawn from `corpus`, never a document judged relevant nor
/// one twice. The draws and the order of the groups depend only on `seed` and `epoch`.
pub fn epoch_groups(
    queries: &[QueryExample],
    corpus: &[String],
    window: NegativeWindow,
    seed: u64,
    epoch: u64,
) -> Epoch {
    let mut random = Random::new(seed ^ epoch.wrapping_mul(0xA076_1D64_78BD_642F));
    let mut groups = Vec::new();
    let (mut short_windows, mut unranked_positives) = (0, 0);
    let hard = window.hard();
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
        // The random draws must be able to finish: the corpus needs that many documents
        // beyond the judged ones and the hard negatives.
        let corpus_room = corpus.len().saturating_sub(relevant.len() + hard);
        if pool.len() < hard || (window.random > 0 && corpus_room < window.random) {
            short_windows += 1;
            continue;
        }
        let positives: Vec<&String> = match window.positives_within {
            Some(top) => {
                let ranked = &example.ranking[..top.min(example.ranking.len())];
                example.positives.iter().filter(|doc| ranked.contains(doc)).collect()
            }
            None => example.positives.iter().collect(),
        };
        if positives.is_empty() {
            unranked_positives += 1;
            continue;
        }
        for positive in positives {
            // A partial Fisher–Yates shuffle: the first `hard` entries are a uniform
            // draw without replacement.
            for i in 0..hard {
                let j = i + random.below(pool.len() - i);
                pool.swap(i, j);
            }
            let mut documents = Vec::with_capacity(1 + window.negatives);
            documents.push(positive.clone());
            documents.extend(pool[..hard].iter().map(|doc| (*doc).clone()));
            while documents.len() < 1 + window.negatives {
                let doc = &corpus[random.below(corpus.len())];
                if !relevant.contains(doc.as_str()) && !documents.contains(doc) {
                    documents.push(doc.clone());
                }
            }
            groups.push(Group { query, documents });
        }
    }
    for i in (1..groups.len()).rev() {
        let j = random.below(i + 1);
        groups.swap(i, j);
    }
    Epoch { groups, short_windows, unranked_positives }
}

/// Up to `n` of `items`, drawn without replacement by `seed`, in draw order.
pub fn sample<T: Clone>(items: &[T], n: usize, seed: u64) -> Vec<T> {
    let mut random = Random::new(seed ^ 0x5EED_71E5);
    let mut order: Vec<usize> = (0..items.len()).collect();
    let n = n.min(items.len());
    for i in 0..n {
        let j = i + random.below(order.len() - i);
        order.swap(i, j);
    }
    order[..n].iter().map(|&i| items[i].clone()).collect()
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
