//! AdamW with linear warmup and linear decay, as `transformers`' Trainer runs it.

use rayon::prelude::*;

use crate::model::Params;

#[cfg(test)]
mod tests;

/// The optimizer's settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamWConfig {
    /// Peak learning rate, reached at the end of warmup.
    pub lr: f32,
    /// First-moment decay.
    pub beta1: f32,
    /// Second-moment decay.
    pub beta2: f32,
    /// Added to the root of the second moment.
    pub eps: f32,
    /// Decoupled weight decay, applied to weight matrices and embedding tables only:
    /// biases and LayerNorm parameters are exempt, as in `transformers`' Trainer.
    pub weight_decay: f32,
    /// Steps of linear warmup from 0 to `lr`.
    pub warmup_steps: u64,
    /// Total steps: the rate decays linearly from `lr` at the end of warmup to 0 here.
    pub total_steps: u64,
}

impl AdamWConfig {
    /// PyTorch's AdamW defaults with this rate and schedule.
    pub fn new(lr: f32, warmup_steps: u64, total_steps: u64) -> AdamWConfig {
        AdamWConfig {
            lr,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.01,
            warmup_steps,
            total_steps,
        }
    }

    /// The learning rate of step `step` (counted from 0).
    pub fn lr_at(&self, step: u64) -> f32 {
        if step < self.warmup_steps {
            return self.lr * (step + 1) as f32 / self.warmup_steps as f32;
        }
        let remaining = self.total_steps.saturating_sub(step) as f32;
        let decay_steps = self.total_steps.saturating_sub(self.warmup_steps).max(1) as f32;
        self.lr * (remaining / decay_steps).clamp(0.0, 1.0)
    }
}

/// AdamW's state: both moments of every parameter, and the steps taken.
#[derive(Debug, Clone, PartialEq)]
pub struct AdamW {
    config: AdamWConfig,
    /// First moments, shaped like the parameters.
    pub first: Params,
    /// Second moments, shaped like the parameters.
    pub second: Params,
    /// Steps taken so far.
    pub steps: u64,
}

impl AdamW {
    /// A fresh optimizer for parameters shaped like `params`.
    pub fn new(config: AdamWConfig, params: &Params) -> AdamW {
        AdamW { config, first: params.zeros_like(), second: params.zeros_like(), steps: 0 }
    }

    /// The settings.
    pub fn config(&self) -> &AdamWConfig {
        &self.config
    }

    /// Replaces the schedule (warmup and total steps) from the next step on; the moments
    /// and the steps taken are kept. A run that learns its length only once it has timed
    /// a few steps (a time budget) sizes its schedule this way.
    pub fn reschedule(&mut self, warmup_steps: u64, total_steps: u64) {
        self.config.warmup_steps = warmup_steps;
        self.config.total_steps = total_steps;
    }

    /// One update of `params` by `grads`; returns the learning rate used.
    pub fn step(&mut self, params: &mut Params, grads: &Params) -> f32 {
        let mut grads = grads.clone();
        self.step_and_zero(params, &mut grads)
    }

    /// [`step`](Self::step), leaving `grads` zeroed for the next step's accumulation
    /// (in the same pass over memory as the update, which a separate fill would repeat).
    pub fn step_and_zero(&mut self, params: &mut Params, grads: &mut Params) -> f32 {
        let c = self.config;
        let lr = c.lr_at(self.steps);
        self.steps += 1;
        let t = self.steps as i32;
        let first_correction = 1.0 - c.beta1.powi(t);
        let second_correction = 1.0 - c.beta2.powi(t);
        let names = params.names();
        let grads = grads.tensors_mut();
        let tensors = params
            .tensors_mut()
            .into_iter()
            .zip(self.first.tensors_mut())
            .zip(self.second.tensors_mut());
        for ((name, g), ((values, m), v)) in names.iter().zip(grads).zip(tensors) {
            let decay = if decays(name) { c.weight_decay } else { 0.0 };
            values
                .par_iter_mut()
                .zip(g.par_iter_mut())
                .zip(m.par_iter_mut().zip(v.par_iter_mut()))
                .with_min_len(4096)
                .for_each(|((p, g), (m, v))| {
                    let g = std::mem::take(g);
                    *m = c.beta1 * *m + (1.0 - c.beta1) * g;
                    *v = c.beta2 * *v + (1.0 - c.beta2) * g * g;
                    *p -= lr * decay * *p;
                    *p -= lr * (*m / first_correction) / ((*v / second_correction).sqrt() + c.eps);
                });
        }
        lr
    }
}

/// Whether weight decay applies to the parameter called `name`.
fn decays(name: &str) -> bool {
    !(name.ends_with(".bias") || name.contains("LayerNorm"))
}
