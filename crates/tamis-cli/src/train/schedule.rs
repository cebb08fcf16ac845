//! The learning-rate schedule of a run stopped by `--time-budget`: sized to the steps the
//! budget allows once a few steps have been timed, not to the epochs, which a budgeted run
//! may never reach (it would end still in warmup, at a fraction of `--lr`).
//!
//! The schedule is sized twice: after [`TIMED_STEPS`] steps, then again at the end of
//! warmup with the steps timed since, keeping the warmup, so the rate stays continuous
//! (the peak either way) while the decay is fitted to a better measure. The first steps
//! of a process run slower (pages faulted in, caches cold): they are not timed.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Steps timed before a budgeted run sizes its schedule.
pub(super) const TIMED_STEPS: u64 = 20;

/// Steps of a process left untimed.
const UNTIMED_STEPS: u64 = 3;

/// Of the steps the budget seems to allow, the share planned: step times drift (batches
/// differ in length), and a schedule a little short still decays to zero.
const PLANNED_SHARE: f64 = 0.95;

/// A schedule fixed once, kept in checkpoints so that a resumed run follows it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub(super) struct Schedule {
    /// Steps of linear warmup.
    pub warmup: u64,
    /// The step the rate decays to zero at.
    pub total: u64,
    /// Whether it was sized at the end of warmup (or past it): it changes no more.
    #[serde(default)]
    pub settled: bool,
}

/// The time training steps take, without evaluations and checkpoints, and without the
/// first steps of the process.
#[derive(Debug, Default)]
pub(super) struct StepClock {
    seen: u64,
    timed: u64,
    total: Duration,
}

impl StepClock {
    /// Counts one step that took `took`.
    pub fn record(&mut self, took: Duration) {
        self.seen += 1;
        if self.seen > UNTIMED_STEPS {
            self.timed += 1;
            self.total += took;
        }
    }

    /// Steps timed so far.
    pub fn timed(&self) -> u64 {
        self.timed
    }

    /// Mean seconds a step, once a step is timed.
    pub fn seconds_per_step(&self) -> Option<f64> {
        (self.timed > 0).then(|| self.total.as_secs_f64() / self.timed as f64)
    }
}

/// What a budgeted run has measured when it sizes its schedule.
#[derive(Debug, Clone, Copy)]
pub(super) struct Timing {
    /// Steps taken so far.
    pub done: u64,
    /// Seconds per step, measured.
    pub step_seconds: f64,
    /// Seconds of budget left for steps and evaluations.
    pub left_seconds: f64,
    /// With dev evaluation: steps between evaluations and seconds each takes (measured
    /// or estimated); one more evaluation runs after the last step.
    pub evaluations: Option<(u64, f64)>,
}

/// The schedule that fits `timing`: total steps are what the time left allows (never
/// more than `cap`, the epochs' steps, nor fewer than one more step), warmup the
/// `warmup_fraction` of them, or `keep_warmup` when the run is sizing its schedule again.
pub(super) fn fit(
    timing: Timing,
    cap: u64,
    warmup_fraction: f32,
    keep_warmup: Option<u64>,
) -> Schedule {
    let Timing { done, step_seconds, left_seconds, evaluations } = timing;
    // Steps S and evaluations S / every + 1 share the time left:
    // S * step + (S / every + 1) * eval = left.
    let (per_step, fixed) = match evaluations {
        Some((every, seconds)) => (step_seconds + seconds / every.max(1) as f64, seconds),
        None => (step_seconds, 0.0),
    };
    let more = ((left_seconds - fixed).max(0.0) / per_step.max(1e-9) * PLANNED_SHARE) as u64;
    let total = done.saturating_add(more.max(1)).min(cap.max(done + 1));
    let warmup =
        keep_warmup.unwrap_or_else(|| (total as f64 * f64::from(warmup_fraction)).round() as u64);
    Schedule { warmup, total, settled: keep_warmup.is_some() || warmup <= done }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schedule_fits_the_steps_and_evaluations_the_budget_leaves() {
        // 1 s a step, 100 s an evaluation every 100 steps, 3 100 s left: 2 s a step in
        // effect after the last evaluation's 100 s, so 1 500 steps, of which 95 % planned.
        let timing = Timing {
            done: 20,
            step_seconds: 1.0,
            left_seconds: 3100.0,
            evaluations: Some((100, 100.0)),
        };
        let first = fit(timing, 1_000_000, 0.1, None);
        assert_eq!(first, Schedule { warmup: 145, total: 1445, settled: false });
        // Without evaluation the whole time goes to steps.
        let alone = Timing { evaluations: None, ..timing };
        assert_eq!(fit(alone, 1_000_000, 0.1, None).total, 20 + 2945);
        // Never past the epochs, never less than one more step.
        assert_eq!(fit(alone, 500, 0.1, None), Schedule { warmup: 50, total: 500, settled: false });
        let spent = Timing { left_seconds: 0.0, ..timing };
        assert_eq!(fit(spent, 1_000_000, 0.1, None).total, 21);
        assert_eq!(fit(Timing { done: 600, ..alone }, 500, 0.0, None).total, 601);
        // Sized again at the end of warmup, faster steps than first timed: the warmup is
        // kept and the decay runs longer; settled either way.
        let again = Timing { done: 145, step_seconds: 0.5, left_seconds: 2000.0, ..timing };
        let settled = fit(again, 1_000_000, 0.1, Some(145));
        assert_eq!(settled, Schedule { warmup: 145, total: 145 + 1203, settled: true });
        // A warmup already behind the first sizing needs no second one.
        assert!(fit(Timing { done: 20, ..alone }, 1_000_000, 0.005, None).settled);
    }

    #[test]
    fn the_clock_leaves_the_first_steps_out() {
        let mut clock = StepClock::default();
        assert_eq!(clock.seconds_per_step(), None);
        for took in [9.0, 9.0, 9.0, 1.0, 2.0] {
            clock.record(Duration::from_secs_f64(took));
        }
        assert_eq!(clock.timed(), 2);
        assert_eq!(clock.seconds_per_step(), Some(1.5));
    }
}
