//! Training and evaluation.
//!
//! Determinism: the weights are initialised from libtorch's global generator right after
//! `tch::manual_seed(seed)`, under a process-wide lock so two trainings in one process
//! cannot interleave their draws; everything else random (scene choice, batch order) comes
//! from the seed through our own generators (including which scenes are mirrored), and no
//! dropout or other torch randomness is
//! used afterwards. libtorch's CPU kernels are deterministic for a fixed intra-op thread
//! count, so the same config gives bit-identical weights on the same machine; a machine
//! with another thread count may differ in the last bits.

use std::sync::Mutex;
use std::time::Instant;

use tch::{Device, Kind, Tensor, nn, nn::Module, nn::OptimizerConfig};

use super::WorldCnnError;
use super::config::Disentangle;
use super::config::derive_seed;
use super::data::{Scenes, WorldData, channel_stats, render_scenes};
use super::model_config::{Optimiser, WorldModelConfig};
use super::net::WorldNet;
use super::sidecar::{Accuracies, InputSpec, normalize};

/// Serialises seeding + initialisation across threads (libtorch's generator is global).
static INIT_LOCK: Mutex<()> = Mutex::new(());

/// Scenes per forward pass during evaluation.
const EVAL_BATCH: usize = 256;

/// What training is doing, for progress bars and logs.
#[derive(Clone, Debug, PartialEq)]
pub enum TrainProgress {
    /// Rendering scenes: `done` of `total` (training and held-out scenes together).
    Rendering {
        /// Scenes rendered so far.
        done: usize,
        /// Scenes to render.
        total: usize,
    },
    /// One optimiser step finished.
    Step {
        /// 1-based epoch.
        epoch: usize,
        /// Number of epochs.
        epochs: usize,
        /// 1-based step, counted over all epochs.
        step: usize,
        /// Steps over all epochs.
        total_steps: usize,
        /// This step's loss (shape + color cross-entropy).
        loss: f64,
    },
    /// Measuring held-out accuracy.
    Evaluating,
    /// Tracing and writing the TorchScript module.
    Exporting,
}

/// A trained network, still in memory.
pub(crate) struct TrainedNet {
    pub vs: nn::VarStore,
    pub net: Box<dyn WorldNet>,
    pub input: InputSpec,
    pub heldout: Accuracies,
    pub seconds: f64,
    pub final_loss: f64,
    pub torch_threads: i32,
}

/// A small seeded generator (SplitMix64) for batch order.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        derive_seed(self.0, 0)
    }

    /// Fisher–Yates shuffle.
    fn shuffle(&mut self, items: &mut [i64]) {
        for i in (1..items.len()).rev() {
            let j = (self.next() % (i as u64 + 1)) as usize;
            items.swap(i, j);
        }
    }
}

/// Learning rate at `step` (0-based) of `total`: linear warm-up over the first 5%, then
/// cosine decay to zero.
fn learning_rate(peak: f64, step: usize, total: usize) -> f64 {
    let warm = (total / 20).max(1);
    if step < warm {
        return peak * (step + 1) as f64 / warm as f64;
    }
    let span = (total - warm).max(1) as f64;
    let t = (step - warm) as f64 / span;
    peak * 0.5 * (1.0 + (std::f64::consts::PI * t).cos())
}

/// The pretraining read-out of a [`Disentangle`] split: a linear background-colour
/// classifier on the background units' pooled responses, and the invariance term on the
/// object units'. Lives in the trainer's variable store (frozen in head-only phases) and is
/// not exported.
struct BackgroundProbe {
    split: Disentangle,
    linear: nn::Linear,
}

impl BackgroundProbe {
    fn new(root: &nn::Path, split: Disentangle) -> BackgroundProbe {
        let colors = maia_shapes_world::Color::ALL.len() as i64;
        BackgroundProbe {
            split,
            linear: nn::linear(
                root / "background_probe",
                2 * split.background_units,
                colors,
                Default::default(),
            ),
        }
    }

    /// For a `[2B, C, H, W]` last layer whose second half is the first half on other
    /// backgrounds: the background units' colour cross-entropy against `backgrounds`
    /// (`[2B]`), plus the invariance term on the object units.
    fn loss(&self, last: &Tensor, backgrounds: &Tensor) -> Tensor {
        let channels = last.size()[1];
        let objects = channels - self.split.background_units;
        let pool = |x: &Tensor| {
            Tensor::cat(
                &[
                    x.mean_dim([2i64, 3].as_slice(), false, Kind::Float),
                    x.amax([2i64, 3].as_slice(), false),
                ],
                1,
            )
        };
        let background = pool(&last.narrow(1, objects, self.split.background_units));
        let colour = self
            .linear
            .forward(&background)
            .cross_entropy_for_logits(backgrounds);
        let object = pool(&last.narrow(1, 0, objects));
        let half = object.size()[0] / 2;
        let (a, b) = (object.narrow(0, 0, half), object.narrow(0, half, half));
        // Each response's spread over the batch, held fixed: the term is the share of a
        // unit's variation that the background swap causes. A unit that stops firing meets
        // it too; the heads, which read only the object units, keep enough of them alive.
        let spread = object.var_dim([0i64].as_slice(), false, false).detach() + 1e-3;
        let invariance = ((a - b).square() / spread).mean(Kind::Float);
        colour + invariance * self.split.invariance
    }
}

/// One phase of training: its scenes, passes over them and peak learning rate.
struct Phase {
    data: WorldData,
    epochs: usize,
    learning_rate: f64,
    /// Train only the heads, with the backbone frozen (batch-norm in eval mode).
    head_only: bool,
    /// Split the last layer's units into object and background units (the data then
    /// holds every scene on a second background).
    disentangle: Option<Disentangle>,
}

/// Renders the data, trains (after a pretraining phase on world scenes, if the plan has
/// one), and evaluates on the held-out scenes.
pub(crate) fn train(
    model: &WorldModelConfig,
    progress: &mut dyn FnMut(&TrainProgress),
) -> Result<TrainedNet, WorldCnnError> {
    model.validate()?;
    let config = &model.plan();
    let started = Instant::now();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let pretrain_images = config.pretrain.map_or(0, |(p, _)| p.images);
    let total_scenes = pretrain_images + config.train_images + config.heldout_images;
    let mut rendered = 0;
    let mut render = |n: usize, scenes: Scenes| -> Result<WorldData, WorldCnnError> {
        let data = render_scenes(n, scenes, config.input_size, threads, &mut |done, _| {
            progress(&TrainProgress::Rendering {
                done: rendered + done,
                total: total_scenes,
            })
        })?;
        rendered += n;
        Ok(data)
    };
    let scenes = |world_seed, planted, swap_background| Scenes {
        world_seed,
        min_dominance: config.min_dominance,
        planted,
        swap_background,
    };
    let mut phases = Vec::new();
    if let Some((pretrain, world_seed)) = config.pretrain {
        phases.push(Phase {
            data: render(
                pretrain.images,
                scenes(world_seed, None, pretrain.disentangle.is_some()),
            )?,
            epochs: pretrain.epochs,
            learning_rate: pretrain.learning_rate,
            head_only: false,
            disentangle: pretrain.disentangle,
        });
    }
    phases.push(Phase {
        data: render(
            config.train_images,
            scenes(
                config.train_world_seed,
                config.planted.map(|flaw| (flaw, false)),
                false,
            ),
        )?,
        epochs: config.epochs,
        learning_rate: config.learning_rate,
        head_only: config.pretrain.is_some_and(|(p, _)| p.head_only),
        disentangle: None,
    });
    let heldout_data = render(
        config.heldout_images,
        scenes(
            config.heldout_world_seed,
            config.planted.map(|flaw| (flaw, true)),
            false,
        ),
    )?;
    // The input statistics of the first phase's scenes, as a fine-tuned network keeps its
    // pretraining's normalisation.
    let (mean, std) = channel_stats(&phases[0].data.images);
    let input = InputSpec {
        layout: "NCHW".into(),
        dtype: "float32".into(),
        color: "RGB".into(),
        channels: 3,
        size: config.input_size,
        source_size: super::data::SOURCE_SIDE,
        resize: "area".into(),
        scale: 1.0 / 255.0,
        mean,
        std,
    };

    let (vs, net, probe) = {
        // A poisoned lock only means another training panicked; the guard is still usable.
        let _guard = INIT_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        tch::manual_seed(config.seed as i64);
        let vs = nn::VarStore::new(Device::Cpu);
        let net = model.build(&vs.root());
        // Created after the network, so its initialisation does not depend on the split.
        let probe = phases
            .iter()
            .find_map(|p| p.disentangle)
            .map(|split| BackgroundProbe::new(&vs.root(), split));
        (vs, net, probe)
    };

    let steps = |phase: &Phase| {
        let batch = config.batch_size.min(phase.data.len());
        (phase.data.len() / batch.max(1)).max(1) * phase.epochs
    };
    let total_steps: usize = phases.iter().map(steps).sum();
    let epochs: usize = phases.iter().map(|p| p.epochs).sum();
    let mut step = 0;
    let mut epoch = 0;
    let mut final_loss = f64::NAN;
    for phase in &phases {
        if phase.head_only {
            for (name, variable) in vs.variables() {
                if !name.contains("_head") {
                    let _ = variable.set_requires_grad(false);
                }
            }
        }
        // A fresh optimiser per phase, as fine-tuning starts its own schedule.
        let mut opt = match config.optimiser {
            Optimiser::Adam => nn::Adam {
                wd: config.weight_decay,
                ..Default::default()
            }
            .build(&vs, phase.learning_rate),
            Optimiser::AdamW => nn::AdamW {
                wd: config.weight_decay,
                ..Default::default()
            }
            .build(&vs, phase.learning_rate),
        }
        .map_err(WorldCnnError::torch("creating the optimiser"))?;
        let data = &phase.data;
        let n = data.len();
        let batch = config.batch_size.min(n);
        let steps_per_epoch = (n / batch).max(1);
        let phase_steps = steps_per_epoch * phase.epochs;
        let mut order: Vec<i64> = (0..n as i64).collect();
        for phase_epoch in 1..=phase.epochs {
            epoch += 1;
            let mut rng = SplitMix(derive_seed(config.seed, 1000 + epoch as u64));
            rng.shuffle(&mut order);
            let mut epoch_loss = 0.0;
            for (k, indices) in order.chunks_exact(batch).take(steps_per_epoch).enumerate() {
                let phase_step = (phase_epoch - 1) * steps_per_epoch + k;
                opt.set_lr(learning_rate(phase.learning_rate, phase_step, phase_steps));
                let idx = Tensor::from_slice(indices);
                let xs = normalize(&data.images.index_select(0, &idx), &input);
                // Mirror half the scenes left-right: every shape's class survives a
                // horizontal flip (rotations are symmetric around upright), so this doubles
                // the data.
                let flips: Vec<bool> = indices.iter().map(|_| rng.next() & 1 == 1).collect();
                let flip = Tensor::from_slice(&flips).view([-1, 1, 1, 1]);
                let mirror = |xs: Tensor| xs.flip([3]).where_self(&flip, &xs);
                let xs = mirror(xs);
                let mut shapes = data.shapes.index_select(0, &idx);
                let mut colors = data.colors.index_select(0, &idx);
                // With a split, the batch holds each scene twice: as drawn, then on its
                // second background (mirrored alike).
                let (xs, paired) = match (&probe, &data.swapped) {
                    (Some(_), Some((swapped, _))) if phase.disentangle.is_some() => {
                        let other = mirror(normalize(&swapped.index_select(0, &idx), &input));
                        shapes = Tensor::cat(&[&shapes, &shapes], 0);
                        colors = Tensor::cat(&[&colors, &colors], 0);
                        (Tensor::cat(&[xs, other], 0), true)
                    }
                    _ => (xs, false),
                };
                let out = match phase.disentangle {
                    // The heads learn from the object units alone; the background units
                    // answer only to the background probe.
                    Some(split) if paired => {
                        net.forward_heads_ignoring(&xs, !phase.head_only, split.background_units)
                    }
                    _ => net.forward(&xs, !phase.head_only),
                };
                let heads = out.shape_logits.cross_entropy_for_logits(&shapes)
                    + out.color_logits.cross_entropy_for_logits(&colors);
                let loss = match (paired, &probe, &data.swapped, out.features.last()) {
                    (true, Some(probe), Some((_, swapped_backgrounds)), Some(last)) => {
                        let backgrounds = Tensor::cat(
                            &[
                                data.backgrounds.index_select(0, &idx),
                                swapped_backgrounds.index_select(0, &idx),
                            ],
                            0,
                        );
                        heads + probe.loss(last, &backgrounds)
                    }
                    _ => heads,
                };
                match config.optimiser {
                    Optimiser::Adam => opt.backward_step(&loss),
                    // Transformers train unstably without clipping at these learning rates.
                    Optimiser::AdamW => opt.backward_step_clip_norm(&loss, 1.0),
                }
                let value = loss.double_value(&[]);
                if !value.is_finite() {
                    return Err(WorldCnnError::Diverged {
                        loss: value,
                        epoch,
                        step: k + 1,
                        learning_rate: phase.learning_rate,
                    });
                }
                epoch_loss += value;
                step += 1;
                progress(&TrainProgress::Step {
                    epoch,
                    epochs,
                    step,
                    total_steps,
                    loss: value,
                });
            }
            final_loss = epoch_loss / steps_per_epoch as f64;
        }
    }

    progress(&TrainProgress::Evaluating);
    let heldout = evaluate(net.as_ref(), &heldout_data, &input);
    Ok(TrainedNet {
        vs,
        net,
        input,
        heldout,
        seconds: started.elapsed().as_secs_f64(),
        final_loss,
        torch_threads: tch::get_num_threads(),
    })
}

/// Held-out accuracy, in eval mode (running batch-norm statistics), without gradients.
fn evaluate(net: &dyn WorldNet, data: &WorldData, input: &InputSpec) -> Accuracies {
    let _no_grad = tch::no_grad_guard();
    let n = data.len();
    let mut shape_right = 0i64;
    let mut color_right = 0i64;
    let mut both_right = 0i64;
    let mut start = 0;
    while start < n {
        let len = (n - start).min(EVAL_BATCH) as i64;
        let xs = normalize(&data.images.narrow(0, start as i64, len), input);
        let out = net.forward(&xs, false);
        let shape_ok = out
            .shape_logits
            .argmax(-1, false)
            .eq_tensor(&data.shapes.narrow(0, start as i64, len));
        let color_ok = out
            .color_logits
            .argmax(-1, false)
            .eq_tensor(&data.colors.narrow(0, start as i64, len));
        let count = |t: &Tensor| t.to_kind(Kind::Int64).sum(Kind::Int64).int64_value(&[]);
        shape_right += count(&shape_ok);
        color_right += count(&color_ok);
        both_right += count(&shape_ok.logical_and(&color_ok));
        start += len as usize;
    }
    let fraction = |right: i64| right as f64 / n.max(1) as f64;
    Accuracies {
        images: n,
        shape: fraction(shape_right),
        color: fraction(color_right),
        both: fraction(both_right),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_probe_charges_object_units_for_moving_with_the_background() {
        let vs = nn::VarStore::new(Device::Cpu);
        let split = Disentangle {
            background_units: 2,
            invariance: 1.0,
        };
        let probe = BackgroundProbe::new(&vs.root(), split);
        tch::manual_seed(3);
        let first = Tensor::rand([4, 6, 4, 4], (Kind::Float, Device::Cpu));
        let backgrounds = Tensor::from_slice(&[0i64, 1, 2, 3, 4, 5, 6, 7]);
        // The same object units on the second backgrounds, other background units.
        let other_background = Tensor::rand([4, 2, 4, 4], (Kind::Float, Device::Cpu));
        let second = Tensor::cat(&[first.narrow(1, 0, 4), other_background], 1);
        let still = probe.loss(&Tensor::cat(&[&first, &second], 0), &backgrounds);
        // The object units moved with the background.
        let moved = Tensor::cat(&[first.narrow(1, 0, 4) * 3.0, second.narrow(1, 4, 2)], 1);
        let moving = probe.loss(&Tensor::cat(&[&first, &moved], 0), &backgrounds);
        let (still, moving) = (still.double_value(&[]), moving.double_value(&[]));
        assert!(
            still.is_finite() && moving > still + 0.5,
            "{still} vs {moving}"
        );
        // Without an invariance weight only the background read-out counts.
        let free = BackgroundProbe {
            split: Disentangle {
                invariance: 0.0,
                ..split
            },
            linear: probe.linear,
        };
        let unweighted = free
            .loss(&Tensor::cat(&[&first, &moved], 0), &backgrounds)
            .double_value(&[]);
        assert!((unweighted - still).abs() < 1e-6, "{unweighted} vs {still}");
    }

    #[test]
    fn schedule_warms_up_then_decays() {
        let total = 100;
        assert!(learning_rate(1.0, 0, total) < learning_rate(1.0, 4, total));
        assert!((learning_rate(1.0, 4, total) - 1.0).abs() < 1e-9);
        assert!(learning_rate(1.0, 50, total) < 1.0);
        assert!(learning_rate(1.0, 99, total) < 0.01);
        assert!(learning_rate(1.0, 0, 1) > 0.0);
    }

    #[test]
    fn shuffle_is_a_seeded_permutation() {
        let mut a: Vec<i64> = (0..50).collect();
        let mut b = a.clone();
        SplitMix(7).shuffle(&mut a);
        SplitMix(7).shuffle(&mut b);
        assert_eq!(a, b);
        let mut sorted = a.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..50).collect::<Vec<_>>());
        assert_ne!(a, sorted);
    }
}
