//! Training steps per second at a fixed batch shape: forward, listwise loss, backward and
//! AdamW over `pairs` sequences of `len` tokens (random ids), on `threads` threads.
//!
//! cargo run --release -p tamis-train --example step_speed -- MODEL_DIR [pairs] [len] [threads] [steps]

use std::path::PathBuf;
use std::time::Instant;

use tamis_models::EncoderConfig;
use tamis_train::optim::{AdamW, AdamWConfig};
use tamis_train::{Batch, CrossEncoderModel};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let dir = PathBuf::from(
        args.get(1).expect("usage: step_speed MODEL_DIR [pairs] [len] [threads] [steps]"),
    );
    let arg =
        |i: usize, default: usize| args.get(i).map_or(default, |a| a.parse().expect("a number"));
    let (pairs, len, threads, steps) = (arg(2, 16), arg(3, 160), arg(4, 2), arg(5, 5));
    let config = EncoderConfig::from_file(&dir.join("config.json")).expect("config.json");
    let mut model = CrossEncoderModel::load(&dir, config, 0).expect("model");
    let vocab = model.config().vocab_size as u64;
    let mut state = 7u64;
    let mut batch = Batch::default();
    for _ in 0..pairs {
        let ids: Vec<u32> = (0..len)
            .map(|_| {
                state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                ((state >> 33) % vocab) as u32
            })
            .collect();
        let types: Vec<u32> = (0..len).map(|i| u32::from(i >= len / 3)).collect();
        batch.push(&ids, &types);
    }
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().expect("pool");
    let mut optimizer = AdamW::new(AdamWConfig::new(2e-5, 0, 1000), &model.params);
    let group = 8.min(pairs);
    let mut targets = vec![0.0; pairs - pairs % group];
    targets.iter_mut().step_by(group).for_each(|t| *t = 1.0);
    pool.install(|| {
        for step in 0..=steps {
            let start = Instant::now();
            let (logits, tape) = model.forward(&batch, None, threads);
            let forward = start.elapsed();
            let mut d_logits = vec![0.0; pairs];
            let n = targets.len();
            tamis_train::loss::listwise(&logits[..n], &targets, group, &mut d_logits[..n]);
            let mut grads = model.params.zeros_like();
            model.backward(&batch, tape, &d_logits, &mut grads, threads);
            let backward = start.elapsed() - forward;
            optimizer.step(&mut model.params, &grads);
            let total = start.elapsed();
            // Step 0 warms the allocator and the caches up.
            if step > 0 {
                println!(
                    "step {step}: {:.3} s (forward {:.3}, backward {:.3}, optimizer {:.3}) = {:.2} steps/s",
                    total.as_secs_f64(),
                    forward.as_secs_f64(),
                    backward.as_secs_f64(),
                    (total - forward - backward).as_secs_f64(),
                    1.0 / total.as_secs_f64()
                );
            }
        }
    });
}
