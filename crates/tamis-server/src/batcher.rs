//! Dynamic batching: one thread owns each model's forward passes and fills each pass with
//! the inputs of every request waiting, up to a token budget.
//!
//! Requests tokenize on their own threads and send the tokens here. The model thread takes
//! inputs first come, first served across requests, so 50 concurrent requests of 20 pairs
//! run as a few full passes, and a request larger than the budget is spread over several
//! passes (interleaved with the others). A request whose client went away is dropped
//! before its next pass. The queue itself is unbounded: admission (`AppState::try_admit`
//! in `state.rs`) bounds how many requests may be waiting.
//!
//! Bulk work (documents being ingested) yields to interactive work (queries, `/embed`,
//! `/rerank`): interactive inputs fill a pass first, and bulk inputs fill at most what
//! the model computes in [`BULK_PASS_TIME`] (its measured rate), so a query that arrives
//! during a long upsert waits for one short pass rather than for the whole upsert.
//!
//! A panic does not take a model away for good. One inside a forward pass fails only the
//! requests in that pass (a 500 naming an internal error); one anywhere else in the model
//! thread fails the requests it held, and the thread's loop starts over with the jobs still
//! queued. [`Health`] counts both, and says when the model cannot serve (`/ready`).

use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use crate::error::ApiError;
use crate::metrics::Metrics;

/// A model the batcher can run.
pub trait BatchModel: Send + Sync + 'static {
    /// One tokenized input.
    type Input: Send + 'static;
    /// One result.
    type Output: Send + 'static;

    /// The input's tokens, for the budget.
    fn tokens(input: &Self::Input) -> usize;

    /// Runs one pass: one output per input, in order.
    fn forward(&self, inputs: &[Self::Input]) -> Result<Vec<Self::Output>, ApiError>;
}

/// How large a pass may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchLimits {
    /// Most tokens in one pass (a single larger input still gets a pass of its own).
    pub max_batch_tokens: usize,
    /// Most inputs in one pass.
    pub max_batch_inputs: usize,
}

/// Whether a request waits for its answer (a query) or is part of a longer job (ingest).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Priority {
    /// Served first.
    Interactive,
    /// Served when no interactive input is waiting, in passes of about
    /// [`BULK_PASS_TIME`].
    Bulk,
}

/// How long a pass that bulk inputs fill may take. An interactive request arriving behind
/// bulk work waits for at most one such pass, where a full default pass (16 384 tokens)
/// takes about two seconds for MiniLM-L6 on two cores. Sized by the model's measured rate
/// rather than in tokens, so the wait holds on any CPU and any model.
pub const BULK_PASS_TIME: Duration = Duration::from_millis(200);

/// Bulk passes never shrink below this many tokens: smaller GEMMs would waste the cores.
pub const MIN_BULK_PASS_TOKENS: usize = 512;

/// The model's throughput, in tokens per second, smoothed over recent passes.
#[derive(Debug, Clone, Copy)]
struct Rate {
    tokens_per_second: Option<f64>,
}

impl Rate {
    fn observe(&mut self, tokens: usize, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        if tokens == 0 || seconds <= 0.0 {
            return;
        }
        let now = tokens as f64 / seconds;
        self.tokens_per_second = Some(match self.tokens_per_second {
            Some(before) => 0.8 * before + 0.2 * now,
            None => now,
        });
    }

    /// Most tokens bulk inputs may put in one pass: what fits in [`BULK_PASS_TIME`] (the
    /// minimum until a pass was measured).
    fn bulk_tokens(&self, limits: BatchLimits) -> usize {
        let fits =
            self.tokens_per_second.map_or(0, |rate| (rate * BULK_PASS_TIME.as_secs_f64()) as usize);
        fits.max(MIN_BULK_PASS_TOKENS).min(limits.max_batch_tokens)
    }
}

/// A request's outputs and where its time went.
#[derive(Debug)]
pub struct Done<O> {
    /// One per input, in order.
    pub outputs: Vec<O>,
    /// From submission to its first pass.
    pub queue_time: Duration,
    /// Time in the passes that carried its inputs.
    pub inference_time: Duration,
}

type Reply<O> = oneshot::Sender<Result<Done<O>, ApiError>>;

struct Job<M: BatchModel> {
    inputs: Vec<M::Input>,
    reply: Reply<M::Output>,
    submitted: Instant,
    priority: Priority,
}

/// A job inside the model thread, partly computed.
struct Pending<M: BatchModel> {
    inputs: VecDeque<M::Input>,
    outputs: Vec<M::Output>,
    reply: Reply<M::Output>,
    submitted: Instant,
    priority: Priority,
    started: Option<Instant>,
    inference_time: Duration,
    failed: Option<ApiError>,
}

/// Consecutive forward passes that must panic before the model reports that it cannot
/// serve. One panic is most likely one poisonous input, already failed with its pass, and
/// the next pass usually succeeds: taking the node out of its load balancer for it would
/// turn one bad request into an outage. Three passes in a row, each with other inputs,
/// point at the model rather than the inputs. A pass that succeeds resets the count.
pub const UNREADY_AFTER_PANICS: u32 = 3;

/// The state of a model thread, as `/ready` and `/metrics` see it.
#[derive(Debug, Default)]
pub struct Health {
    /// The thread is in its loop (false before it starts, while it restarts, and after
    /// it stopped).
    running: AtomicBool,
    consecutive_panics: AtomicU32,
    panics: AtomicU64,
    restarts: AtomicU64,
}

impl Health {
    /// Whether requests to this model can be answered: its thread runs and fewer than
    /// [`UNREADY_AFTER_PANICS`] passes in a row panicked.
    pub fn can_serve(&self) -> bool {
        self.running.load(Ordering::Acquire)
            && self.consecutive_panics.load(Ordering::Acquire) < UNREADY_AFTER_PANICS
    }

    /// Forward passes that panicked since the start.
    pub fn panics(&self) -> u64 {
        self.panics.load(Ordering::Acquire)
    }

    /// Times the model thread's loop was restarted after a panic outside a forward pass.
    pub fn restarts(&self) -> u64 {
        self.restarts.load(Ordering::Acquire)
    }
}

/// Marks the thread stopped however it ends, unwinding included.
struct Stopped<'h>(&'h Health);

impl Drop for Stopped<'_> {
    fn drop(&mut self) {
        self.0.running.store(false, Ordering::Release);
    }
}

/// The sending side of a model thread; cheap to clone.
pub struct Batcher<M: BatchModel> {
    sender: mpsc::Sender<Job<M>>,
    health: Arc<Health>,
}

impl<M: BatchModel> Clone for Batcher<M> {
    fn clone(&self) -> Self {
        Batcher { sender: self.sender.clone(), health: self.health.clone() }
    }
}

impl<M: BatchModel> std::fmt::Debug for Batcher<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batcher").finish_non_exhaustive()
    }
}

impl<M: BatchModel> Batcher<M> {
    /// Starts the model thread `name`; it stops when every `Batcher` clone is dropped.
    pub fn spawn(
        name: &str,
        model: Arc<M>,
        limits: BatchLimits,
        metrics: Arc<Metrics>,
    ) -> std::io::Result<Batcher<M>> {
        let (sender, receiver) = mpsc::channel();
        let label = name.to_string();
        let health = Arc::new(Health::default());
        // Ready from the start: jobs sent before the thread runs wait in the channel.
        health.running.store(true, Ordering::Release);
        let thread_health = health.clone();
        std::thread::Builder::new().name(format!("tamis-model-{name}")).spawn(move || {
            supervise(&*model, &receiver, limits, &metrics, &label, &thread_health)
        })?;
        Ok(Batcher { sender, health })
    }

    /// The model thread's state.
    pub fn health(&self) -> &Health {
        &self.health
    }

    /// Queues `inputs`; the receiver gets the outputs in order (or the pass's error).
    pub fn submit(
        &self,
        inputs: Vec<M::Input>,
        priority: Priority,
    ) -> oneshot::Receiver<Result<Done<M::Output>, ApiError>> {
        let (reply, receiver) = oneshot::channel();
        let job = Job { inputs, reply, submitted: Instant::now(), priority };
        if let Err(mpsc::SendError(job)) = self.sender.send(job) {
            // The model thread is gone (only a panic its loop could not catch ends it
            // while senders exist): say so rather than hang.
            let _ =
                job.reply.send(Err(ApiError::internal("internal error: the model thread stopped")));
        }
        receiver
    }

    /// Queues `inputs` and waits for them (async callers).
    pub async fn run(&self, inputs: Vec<M::Input>) -> Result<Done<M::Output>, ApiError> {
        self.submit(inputs, Priority::Interactive)
            .await
            .unwrap_or_else(|_| Err(ApiError::internal("the model thread dropped a request")))
    }

    /// Queues `inputs` and blocks until they are done (synchronous callers such as the
    /// engine's pipeline, on a blocking thread; never on an async worker).
    pub fn run_blocking(
        &self,
        inputs: Vec<M::Input>,
        priority: Priority,
    ) -> Result<Done<M::Output>, ApiError> {
        self.submit(inputs, priority)
            .blocking_recv()
            .unwrap_or_else(|_| Err(ApiError::internal("the model thread dropped a request")))
    }
}

/// The model thread: runs [`run`], and starts it over when it panics outside a forward
/// pass (a bug in the batching itself, or in `BatchModel::tokens`). The jobs it held are
/// dropped while unwinding, so their clients get an internal error at once; the jobs still
/// in the channel are served by the new loop. Returns when every sender is gone.
fn supervise<M: BatchModel>(
    model: &M,
    receiver: &mpsc::Receiver<Job<M>>,
    limits: BatchLimits,
    metrics: &Metrics,
    name: &str,
    health: &Health,
) {
    let _stopped = Stopped(health);
    loop {
        health.running.store(true, Ordering::Release);
        // The receiver and the model are only read by `run`, and the model stays valid
        // across a panic (see `forward_caught`); everything else `run` owns is dropped.
        match catch_unwind(AssertUnwindSafe(|| run(model, receiver, limits, metrics, name, health)))
        {
            Ok(()) => return,
            Err(payload) => {
                health.running.store(false, Ordering::Release);
                health.restarts.fetch_add(1, Ordering::AcqRel);
                metrics.observe_restart(name);
                tracing::error!(
                    model = name,
                    "the model thread panicked: {}; restarting it",
                    panic_message(&*payload)
                );
            }
        }
    }
}

/// A panic's message, when it is a string.
fn panic_message(payload: &(dyn std::any::Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("a panic without a message")
}

/// One forward pass, a panic turned into an internal error for that pass alone.
///
/// Unwinding out of `forward` cannot leave the model half-updated: `BatchModel::forward`
/// takes `&self`, and the served models keep no interior mutability (weights are read
/// only; every pass allocates its own activations), so the `AssertUnwindSafe` holds and
/// the next pass runs on the same model. Should a model ever keep state that a panic
/// corrupts, its later passes fail too and [`UNREADY_AFTER_PANICS`] reports it unready.
/// The client sees no panic text, which may carry paths of the server's filesystem; the
/// log has it.
fn forward_caught<M: BatchModel>(
    model: &M,
    batch: &[M::Input],
    metrics: &Metrics,
    name: &str,
    health: &Health,
) -> Result<Vec<M::Output>, ApiError> {
    match catch_unwind(AssertUnwindSafe(|| model.forward(batch))) {
        Ok(result) => {
            health.consecutive_panics.store(0, Ordering::Release);
            result
        }
        Err(payload) => {
            health.consecutive_panics.fetch_add(1, Ordering::AcqRel);
            health.panics.fetch_add(1, Ordering::AcqRel);
            metrics.observe_panic(name);
            tracing::error!(
                model = name,
                inputs = batch.len(),
                "a forward pass panicked: {}",
                panic_message(&*payload)
            );
            Err(ApiError::internal(format!(
                "internal error: the model {name} failed on the batch holding this request \
                 (details are in the server log)"
            )))
        }
    }
}

/// The model thread's loop.
fn run<M: BatchModel>(
    model: &M,
    receiver: &mpsc::Receiver<Job<M>>,
    limits: BatchLimits,
    metrics: &Metrics,
    name: &str,
    health: &Health,
) {
    let mut pending: VecDeque<Pending<M>> = VecDeque::new();
    let mut rate = Rate { tokens_per_second: None };
    loop {
        if pending.is_empty() {
            match receiver.recv() {
                Ok(job) => pending.push_back(Pending::new(job)),
                Err(mpsc::RecvError) => return,
            }
        }
        // Everything that arrived while the last pass ran joins this one.
        while let Ok(job) = receiver.try_recv() {
            pending.push_back(Pending::new(job));
        }
        // A client that hung up costs no more passes.
        pending.retain(|p| !p.reply.is_closed());
        if pending.is_empty() {
            continue;
        }

        let (batch, owners) = take_batch(&mut pending, limits, rate.bulk_tokens(limits));
        if batch.is_empty() {
            // Only jobs with nothing to compute: answer them.
            finish(&mut pending);
            continue;
        }
        let n_tokens: usize = batch.iter().map(M::tokens).sum();
        let start = Instant::now();
        let result = forward_caught(model, &batch, metrics, name, health);
        let elapsed = start.elapsed();
        rate.observe(n_tokens, elapsed);
        metrics.observe_batch(name, batch.len(), n_tokens, elapsed);

        match result {
            Ok(outputs) if outputs.len() == batch.len() => {
                let mut outputs = outputs.into_iter();
                for (job_idx, count) in owners {
                    let job = &mut pending[job_idx];
                    job.outputs.extend(outputs.by_ref().take(count));
                    job.inference_time += elapsed;
                }
            }
            Ok(outputs) => {
                let message = format!(
                    "the model returned {} outputs for {} inputs",
                    outputs.len(),
                    batch.len()
                );
                fail(&mut pending, &owners, &ApiError::internal(message));
            }
            Err(err) => fail(&mut pending, &owners, &err),
        }
        finish(&mut pending);
    }
}

impl<M: BatchModel> Pending<M> {
    fn new(job: Job<M>) -> Self {
        let n = job.inputs.len();
        Pending {
            inputs: job.inputs.into(),
            outputs: Vec::with_capacity(n),
            reply: job.reply,
            submitted: job.submitted,
            priority: job.priority,
            started: None,
            inference_time: Duration::ZERO,
            failed: None,
        }
    }
}

/// Takes inputs until the budget is reached, interactive jobs first, each priority first
/// come, first served, bulk inputs only up to `bulk_tokens` in all; returns them with
/// (job position, count) for each job that gave some.
fn take_batch<M: BatchModel>(
    pending: &mut VecDeque<Pending<M>>,
    limits: BatchLimits,
    bulk_tokens: usize,
) -> (Vec<M::Input>, Vec<(usize, usize)>) {
    let mut batch = Vec::new();
    let mut owners = Vec::new();
    let mut n_tokens: usize = 0;
    let of = |priority| {
        (0..pending.len()).filter(|&i| pending[i].priority == priority).collect::<Vec<usize>>()
    };
    let order: Vec<usize> = [of(Priority::Interactive), of(Priority::Bulk)].concat();
    for job_idx in order {
        let job = &mut pending[job_idx];
        let max_tokens = match job.priority {
            Priority::Interactive => limits.max_batch_tokens,
            Priority::Bulk => bulk_tokens,
        };
        let mut taken = 0;
        let mut full = false;
        while let Some(input) = job.inputs.front() {
            let tokens = M::tokens(input);
            full = batch.len() >= limits.max_batch_inputs
                || n_tokens.saturating_add(tokens) > max_tokens;
            if full && !batch.is_empty() {
                break;
            }
            full = false;
            n_tokens += tokens;
            batch.push(job.inputs.pop_front().expect("front() was Some: this is a bug"));
            taken += 1;
        }
        if taken > 0 {
            job.started.get_or_insert_with(Instant::now);
            owners.push((job_idx, taken));
        }
        if full {
            break;
        }
    }
    (batch, owners)
}

fn fail<M: BatchModel>(
    pending: &mut VecDeque<Pending<M>>,
    owners: &[(usize, usize)],
    err: &ApiError,
) {
    for &(job_idx, _) in owners {
        pending[job_idx].failed = Some(err.clone());
    }
}

/// Replies to every job that is complete or failed, and forgets them.
fn finish<M: BatchModel>(pending: &mut VecDeque<Pending<M>>) {
    let mut kept = VecDeque::with_capacity(pending.len());
    for job in pending.drain(..) {
        if let Some(err) = job.failed {
            let _ = job.reply.send(Err(err));
        } else if job.inputs.is_empty() {
            let queue_time = job.started.unwrap_or(job.submitted) - job.submitted;
            let done =
                Done { outputs: job.outputs, queue_time, inference_time: job.inference_time };
            let _ = job.reply.send(Ok(done));
        } else {
            kept.push_back(job);
        }
    }
    *pending = kept;
}

#[cfg(test)]
mod tests;
