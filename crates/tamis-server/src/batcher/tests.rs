use std::sync::Mutex;
use std::time::Duration;

use super::*;

/// Doubles its inputs after a pause, recording each pass's size; input 0 makes a pass fail.
struct Slow {
    pause: Duration,
    passes: Mutex<Vec<usize>>,
}

impl Slow {
    fn new(pause_ms: u64) -> Arc<Slow> {
        Arc::new(Slow { pause: Duration::from_millis(pause_ms), passes: Mutex::default() })
    }

    fn passes(&self) -> Vec<usize> {
        self.passes.lock().expect("not poisoned").clone()
    }
}

impl BatchModel for Slow {
    type Input = u32;
    type Output = u32;

    fn tokens(input: &u32) -> usize {
        *input as usize
    }

    fn forward(&self, inputs: &[u32]) -> Result<Vec<u32>, ApiError> {
        std::thread::sleep(self.pause);
        self.passes.lock().expect("not poisoned").push(inputs.len());
        if inputs.contains(&0) {
            return Err(ApiError::internal("input 0 fails"));
        }
        Ok(inputs.iter().map(|x| x * 2).collect())
    }
}

fn batcher(model: &Arc<Slow>, max_batch_tokens: usize, max_batch_inputs: usize) -> Batcher<Slow> {
    let limits = BatchLimits { max_batch_tokens, max_batch_inputs };
    Batcher::spawn("test", model.clone(), limits, Arc::new(Metrics::new())).expect("spawned")
}

#[test]
fn concurrent_requests_share_passes() {
    let model = Slow::new(20);
    // Inputs count as many tokens as their value: no token budget here, only 64 inputs.
    let batcher = batcher(&model, usize::MAX, 64);
    // 50 requests of 20 inputs, all waiting at once.
    let receivers: Vec<_> = (0..50u32)
        .map(|r| batcher.submit((1..=20).map(|i| r * 100 + i).collect(), Priority::Interactive))
        .collect();
    for (r, receiver) in receivers.into_iter().enumerate() {
        let done = receiver.blocking_recv().expect("answered").expect("computed");
        let expected: Vec<u32> = (1..=20).map(|i| (r as u32 * 100 + i) * 2).collect();
        assert_eq!(done.outputs, expected, "request {r} got another request's outputs");
    }
    let passes = model.passes();
    assert_eq!(passes.iter().sum::<usize>(), 1000);
    assert!(passes.iter().all(|&n| n <= 64), "a pass exceeded max_batch_inputs: {passes:?}");
    // 1000 inputs in passes of 64: 16 full passes, plus at most the first lone request.
    assert!(passes.len() <= 17, "50 requests took {} passes: {passes:?}", passes.len());
}

#[test]
fn a_request_larger_than_the_budget_is_split() {
    let model = Slow::new(1);
    // Inputs of 10 tokens, 35 tokens per pass: 3 inputs each.
    let batcher = batcher(&model, 35, 64);
    let done = batcher.run_blocking(vec![10; 10], Priority::Interactive).expect("computed");
    assert_eq!(done.outputs, vec![20; 10]);
    assert_eq!(model.passes(), vec![3, 3, 3, 1]);
    assert!(done.inference_time >= Duration::from_millis(4), "four passes counted");
}

#[test]
fn an_input_over_the_budget_gets_a_pass_of_its_own() {
    let model = Slow::new(1);
    let batcher = batcher(&model, 5, 64);
    let done = batcher.run_blocking(vec![50, 1], Priority::Interactive).expect("computed");
    assert_eq!(done.outputs, vec![100, 2]);
    assert_eq!(model.passes(), vec![1, 1]);
}

#[test]
fn a_failed_pass_fails_only_its_requests() {
    let model = Slow::new(30);
    let batcher = batcher(&model, 10_000, 2);
    let first = batcher.submit(vec![1, 2], Priority::Interactive);
    // While the first pass runs, a failing request and a good one queue; with passes of 2
    // inputs they run separately.
    std::thread::sleep(Duration::from_millis(5));
    let failing = batcher.submit(vec![0, 3], Priority::Interactive);
    let good = batcher.submit(vec![4], Priority::Interactive);
    assert_eq!(first.blocking_recv().expect("answered").expect("ok").outputs, vec![2, 4]);
    let err = failing.blocking_recv().expect("answered").expect_err("input 0 fails");
    assert_eq!(err.message, "input 0 fails");
    assert_eq!(good.blocking_recv().expect("answered").expect("ok").outputs, vec![8]);
}

#[test]
fn requests_whose_client_left_are_not_computed() {
    let model = Slow::new(30);
    let batcher = batcher(&model, 10_000, 64);
    let first = batcher.submit(vec![1], Priority::Interactive);
    std::thread::sleep(Duration::from_millis(5));
    // Its receiver is dropped before the model thread reaches it.
    drop(batcher.submit(vec![7; 10], Priority::Interactive));
    let last = batcher.submit(vec![2], Priority::Interactive);
    assert_eq!(first.blocking_recv().expect("answered").expect("ok").outputs, vec![2]);
    assert_eq!(last.blocking_recv().expect("answered").expect("ok").outputs, vec![4]);
    assert_eq!(model.passes(), vec![1, 1], "the abandoned request was computed");
}

#[test]
fn queue_time_counts_the_wait_for_a_busy_model() {
    let model = Slow::new(40);
    let batcher = batcher(&model, 10_000, 1);
    let first = batcher.submit(vec![1], Priority::Interactive);
    let second = batcher.submit(vec![2], Priority::Interactive);
    let first = first.blocking_recv().expect("answered").expect("ok");
    let second = second.blocking_recv().expect("answered").expect("ok");
    assert!(first.queue_time < Duration::from_millis(30), "{:?}", first.queue_time);
    assert!(second.queue_time >= Duration::from_millis(35), "{:?}", second.queue_time);
}

/// Takes 100 µs per token (10 000 tokens a second), recording each pass's inputs.
struct PerToken {
    passes: Mutex<Vec<Vec<u32>>>,
}

impl BatchModel for PerToken {
    type Input = u32;
    type Output = u32;

    fn tokens(input: &u32) -> usize {
        *input as usize
    }

    fn forward(&self, inputs: &[u32]) -> Result<Vec<u32>, ApiError> {
        let tokens: u32 = inputs.iter().sum();
        std::thread::sleep(Duration::from_micros(100 * u64::from(tokens)));
        self.passes.lock().expect("not poisoned").push(inputs.to_vec());
        Ok(inputs.iter().map(|x| x * 2).collect())
    }
}

#[test]
fn interactive_inputs_overtake_bulk_work_sized_to_a_short_pass() {
    let model = Arc::new(PerToken { passes: Mutex::default() });
    let limits = BatchLimits { max_batch_tokens: 100_000, max_batch_inputs: 1000 };
    let batcher =
        Batcher::spawn("test", model.clone(), limits, Arc::new(Metrics::new())).expect("spawned");
    // Bulk inputs of 100 tokens; the query's input is 101 tokens, to be told apart.
    let bulk = batcher.submit(vec![100; 60], Priority::Bulk);
    std::thread::sleep(Duration::from_millis(20));
    let query = batcher.submit(vec![101], Priority::Interactive);
    assert_eq!(query.blocking_recv().expect("answered").expect("computed").outputs, [202]);
    let bulk = bulk.blocking_recv().expect("answered").expect("computed");
    assert_eq!(bulk.outputs, vec![200; 60]);
    let passes = model.passes.lock().expect("not poisoned").clone();
    let tokens = |pass: &Vec<u32>| pass.iter().sum::<u32>() as usize;
    // Before any pass was measured, bulk work gets the smallest pass (512 tokens: 5 inputs).
    assert_eq!(passes[0], vec![100; MIN_BULK_PASS_TOKENS / 100], "{passes:?}");
    // The query, sent during the first pass, rode the second, first in it.
    assert_eq!(passes[1][0], 101, "{passes:?}");
    // Then bulk passes fill what the measured rate computes in BULK_PASS_TIME: 2000 tokens.
    let fits = (10_000.0 * BULK_PASS_TIME.as_secs_f64()) as usize;
    assert!(passes.iter().all(|pass| tokens(pass) <= fits + 101), "{passes:?}");
    assert!(tokens(&passes[2]) > fits / 2, "{passes:?}");
    assert_eq!(passes.iter().map(Vec::len).sum::<usize>(), 61);
}

/// Doubles its inputs; a pass holding [`PANIC_IN_FORWARD`] panics in `forward`, and
/// [`PANIC_IN_TOKENS`] panics in the batching itself (outside `forward`).
struct Panicky;

const PANIC_IN_FORWARD: u32 = 666;
const PANIC_IN_TOKENS: u32 = 777;

impl BatchModel for Panicky {
    type Input = u32;
    type Output = u32;

    fn tokens(input: &u32) -> usize {
        assert_ne!(*input, PANIC_IN_TOKENS, "injected panic outside forward");
        1
    }

    fn forward(&self, inputs: &[u32]) -> Result<Vec<u32>, ApiError> {
        assert!(!inputs.contains(&PANIC_IN_FORWARD), "injected panic in /secret/path");
        Ok(inputs.iter().map(|x| x * 2).collect())
    }
}

fn panicky(max_batch_inputs: usize) -> (Batcher<Panicky>, Arc<Metrics>) {
    let limits = BatchLimits { max_batch_tokens: 10_000, max_batch_inputs };
    let metrics = Arc::new(Metrics::new());
    let batcher = Batcher::spawn("panicky", Arc::new(Panicky), limits, metrics.clone()).unwrap();
    (batcher, metrics)
}

#[test]
fn a_panicking_pass_fails_only_its_requests_and_the_model_keeps_serving() {
    // One input per pass: the marker's pass is the only one that panics.
    let (batcher, metrics) = panicky(1);
    let before = batcher.submit(vec![1], Priority::Interactive);
    let marked = batcher.submit(vec![PANIC_IN_FORWARD], Priority::Interactive);
    let after = batcher.submit(vec![3], Priority::Interactive);
    assert_eq!(before.blocking_recv().unwrap().unwrap().outputs, [2]);
    let err = marked.blocking_recv().unwrap().expect_err("the pass panicked");
    assert_eq!(err.error_type, crate::error::ErrorType::Internal);
    assert!(err.message.starts_with("internal error"), "{}", err.message);
    assert!(!err.message.contains("/secret/path"), "the panic's text leaked: {}", err.message);
    assert_eq!(after.blocking_recv().unwrap().unwrap().outputs, [6]);
    // The next request, after the panic, is served too.
    assert_eq!(batcher.run_blocking(vec![4], Priority::Interactive).unwrap().outputs, [8]);
    assert_eq!(batcher.health().panics(), 1);
    assert_eq!(batcher.health().restarts(), 0);
    assert!(batcher.health().can_serve(), "one panic does not make the model unready");
    assert!(metrics.encode().contains("tamis_model_panics_total{model=\"panicky\"} 1"));
}

#[test]
fn passes_that_keep_panicking_make_the_model_unready_until_one_succeeds() {
    let (batcher, _metrics) = panicky(1);
    for n in 1..=UNREADY_AFTER_PANICS {
        assert!(batcher.health().can_serve(), "unready after only {} panics", n - 1);
        let err = batcher.run_blocking(vec![PANIC_IN_FORWARD], Priority::Interactive);
        assert!(err.is_err());
    }
    assert!(!batcher.health().can_serve(), "{UNREADY_AFTER_PANICS} panics in a row");
    assert_eq!(batcher.run_blocking(vec![5], Priority::Interactive).unwrap().outputs, [10]);
    assert!(batcher.health().can_serve(), "a good pass makes it ready again");
}

#[test]
fn a_panic_outside_forward_restarts_the_model_thread() {
    let (batcher, metrics) = panicky(64);
    let err = batcher.run_blocking(vec![PANIC_IN_TOKENS], Priority::Interactive);
    assert_eq!(err.unwrap_err().error_type, crate::error::ErrorType::Internal);
    // The restarted loop serves the next request.
    assert_eq!(batcher.run_blocking(vec![7], Priority::Interactive).unwrap().outputs, [14]);
    assert_eq!(batcher.health().restarts(), 1);
    assert!(batcher.health().can_serve());
    assert!(metrics.encode().contains("tamis_model_restarts_total{model=\"panicky\"} 1"));
}
