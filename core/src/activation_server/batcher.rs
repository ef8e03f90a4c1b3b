//! Batching: activation requests from all clients that arrive within a short window are
//! merged, per layer, into one call of the (sync) model on a blocking thread, and the
//! results are split back per request.
//!
//! Two tasks. The *collector* opens a window when a request arrives; when it closes (after
//! `window`, at once when `max_batch` images wait, or when every connected client has a
//! request waiting, as nothing else is likely to come) the collector waits for the model's
//! single slot, still taking requests until the batch is full, so a busy model gets bigger
//! batches. The *executor* runs one batch at a time (the model owns the GPU) on a blocking
//! thread and frees the slot when it is done.

use super::protocol::copy_error;
use super::stats::Counters;
use crate::target::{TargetError, TargetModel, UnitMap};
use maia_plugin_sdk::Image;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot};

/// What a request gets back: `maps[image][i]` for its `units[i]`.
pub(crate) type JobResult = Result<Vec<Vec<UnitMap>>, TargetError>;

/// One validated activations request waiting for the model.
pub(crate) struct Job {
    /// The connection's serial number.
    pub(crate) client: u64,
    pub(crate) layer: String,
    pub(crate) units: Vec<usize>,
    pub(crate) images: Vec<Image>,
    pub(crate) reply: oneshot::Sender<JobResult>,
}

/// Batching limits.
#[derive(Clone, Copy, Debug)]
pub(crate) struct BatchLimits {
    pub(crate) window: Duration,
    pub(crate) max_batch: usize,
}

/// Jobs of one layer for one model call, and the model's slot, held until the call ends.
pub(crate) struct Batch {
    jobs: Vec<Job>,
    slot: OwnedSemaphorePermit,
}

fn images(jobs: &[Job]) -> usize {
    jobs.iter().map(|j| j.images.len()).sum()
}

/// Collects jobs into batches until every job sender is gone and all jobs are handed on.
pub(crate) async fn collect(
    mut jobs: mpsc::Receiver<Job>,
    batches: mpsc::Sender<Batch>,
    limits: BatchLimits,
    counters: Arc<Counters>,
) {
    let slot = Arc::new(Semaphore::new(1));
    let mut pending: Vec<Job> = Vec::new();
    let mut closed = false;
    loop {
        if pending.is_empty() {
            if closed {
                return;
            }
            match jobs.recv().await {
                Some(job) => pending.push(job),
                None => return,
            }
            // The window opens with the first request.
            if limits.window.is_zero() {
                // Take what is already queued, without a timer (tokio's round up to 1 ms).
                while images(&pending) < limits.max_batch {
                    match jobs.try_recv() {
                        Ok(job) => pending.push(job),
                        Err(_) => break,
                    }
                }
            } else {
                let deadline = tokio::time::Instant::now() + limits.window;
                while !closed
                    && images(&pending) < limits.max_batch
                    && !everyone_waits(&pending, &counters)
                {
                    tokio::select! {
                        job = jobs.recv() => match job {
                            Some(job) => pending.push(job),
                            None => closed = true,
                        },
                        () = tokio::time::sleep_until(deadline) => break,
                    }
                }
            }
        }
        // The window is over: wait for the model, taking requests that come meanwhile.
        let permit = loop {
            if closed || images(&pending) >= limits.max_batch {
                break slot.clone().acquire_owned().await;
            }
            tokio::select! {
                permit = slot.clone().acquire_owned() => break permit,
                job = jobs.recv() => match job {
                    Some(job) => pending.push(job),
                    None => closed = true,
                },
            }
        };
        let Ok(permit) = permit else { return };
        let batch = Batch {
            jobs: take_batch(&mut pending, limits.max_batch),
            slot: permit,
        };
        if batches.send(batch).await.is_err() {
            return;
        }
    }
}

/// True when every connected client has a request in `pending`.
fn everyone_waits(pending: &[Job], counters: &Counters) -> bool {
    let mut clients: Vec<u64> = pending.iter().map(|j| j.client).collect();
    clients.sort_unstable();
    clients.dedup();
    clients.len() as u64 >= counters.clients()
}

/// Takes the next batch out of `pending`: jobs of the oldest job's layer, in arrival order,
/// up to `max_batch` images (the oldest job is always taken, however big: jobs are never
/// split). The rest stays, in order.
fn take_batch(pending: &mut Vec<Job>, max_batch: usize) -> Vec<Job> {
    let Some(layer) = pending.first().map(|j| j.layer.clone()) else {
        return Vec::new();
    };
    let mut taken: Vec<Job> = Vec::new();
    let mut rest = Vec::new();
    let mut count = 0;
    for job in pending.drain(..) {
        let n = job.images.len();
        if job.layer == layer && (taken.is_empty() || count + n <= max_batch) {
            count += n;
            taken.push(job);
        } else {
            rest.push(job);
        }
    }
    *pending = rest;
    taken
}

/// Runs batches one at a time on blocking threads until the collector is gone.
pub(crate) async fn execute(
    model: Arc<dyn TargetModel>,
    mut batches: mpsc::Receiver<Batch>,
    counters: Arc<Counters>,
) {
    while let Some(Batch { jobs, slot }) = batches.recv().await {
        // Clients that left while waiting need no answer.
        let jobs: Vec<Job> = jobs.into_iter().filter(|j| !j.reply.is_closed()).collect();
        if jobs.is_empty() {
            continue;
        }
        let model = model.clone();
        let counters = counters.clone();
        // A panic drops the jobs' reply senders, and each request reports it; the
        // executor goes on with the next batch.
        let _ =
            tokio::task::spawn_blocking(move || run_batch(model.as_ref(), jobs, &counters)).await;
        drop(slot);
    }
}

/// Calls the model once for a batch of one layer, and answers every job.
fn run_batch(model: &dyn TargetModel, jobs: Vec<Job>, counters: &Counters) {
    let layer = jobs[0].layer.clone();
    let mut union: Vec<usize> = jobs.iter().flat_map(|j| j.units.iter().copied()).collect();
    union.sort_unstable();
    union.dedup();
    let images: Vec<&Image> = jobs.iter().flat_map(|j| j.images.iter()).collect();
    let started = Instant::now();
    let result = model.activations(&images, &layer, &union);
    counters.batch(images.len(), started.elapsed());
    let maps = match result {
        Ok(maps) if maps.len() == images.len() && maps.iter().all(|m| m.len() == union.len()) => {
            maps
        }
        Ok(maps) => {
            let err = TargetError::Compute(format!(
                "the model returned maps for {} images and {:?} units when asked for {} images and {} units",
                maps.len(),
                maps.first().map(Vec::len),
                images.len(),
                union.len()
            ));
            for job in jobs {
                let _ = job.reply.send(Err(copy_error(&err)));
            }
            return;
        }
        Err(_) if jobs.len() > 1 => {
            // One request's bad image must not fail the others: run each alone so the error
            // reaches the request that caused it.
            drop(images);
            for job in jobs {
                run_batch(model, vec![job], counters);
            }
            return;
        }
        Err(err) => {
            for job in jobs {
                let _ = job.reply.send(Err(copy_error(&err)));
            }
            return;
        }
    };
    let mut maps = maps.into_iter();
    for job in jobs {
        let mine: Vec<Vec<UnitMap>> = maps
            .by_ref()
            .take(job.images.len())
            .map(|per_unit| pick(per_unit, &union, &job.units))
            .collect();
        let _ = job.reply.send(Ok(mine));
    }
}

/// The maps of `wanted` units out of maps computed for `union` (sorted, deduplicated,
/// a superset of `wanted`).
fn pick(per_unit: Vec<UnitMap>, union: &[usize], wanted: &[usize]) -> Vec<UnitMap> {
    if wanted == union {
        return per_unit;
    }
    wanted
        .iter()
        .filter_map(|u| {
            union
                .binary_search(u)
                .ok()
                .and_then(|i| per_unit.get(i))
                .cloned()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(layer: &str, images: usize) -> Job {
        let (reply, _) = oneshot::channel();
        Job {
            client: 1,
            layer: layer.into(),
            units: vec![0],
            images: vec![Image::new(vec![], ""); images],
            reply,
        }
    }

    #[test]
    fn batches_are_per_layer_bounded_and_in_order() {
        let mut pending = vec![
            job("a", 3),
            job("b", 1),
            job("a", 2),
            job("a", 4),
            job("a", 1),
        ];
        let mut batches = Vec::new();
        while !pending.is_empty() {
            let batch = take_batch(&mut pending, 6);
            batches.push((
                batch[0].layer.clone(),
                batch.iter().map(|j| j.images.len()).collect::<Vec<_>>(),
            ));
        }
        let want = [("a", vec![3, 2, 1]), ("b", vec![1]), ("a", vec![4])];
        assert_eq!(batches, want.map(|(l, n)| (l.to_owned(), n)));
        // A job bigger than the limit runs alone.
        let mut pending = vec![job("a", 9), job("a", 1)];
        assert_eq!(take_batch(&mut pending, 6).len(), 1);
    }

    #[test]
    fn picking_follows_the_request_order_with_repeats() {
        let map = |v: f32| UnitMap {
            width: 1,
            height: 1,
            values: vec![v],
        };
        let picked = pick(vec![map(0.0), map(1.0), map(2.0)], &[3, 5, 8], &[8, 3, 8]);
        let values: Vec<f32> = picked.iter().map(|m| m.values[0]).collect();
        assert_eq!(values, [2.0, 0.0, 2.0]);
    }
}
