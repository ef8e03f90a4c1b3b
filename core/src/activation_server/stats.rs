//! The host's counters: what `maia host info` shows and `maia host serve` prints.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Counters since the host started.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    /// Activation requests received.
    pub requests: u64,
    /// Requests answered with an error.
    pub errors: u64,
    /// Calls into the model (each serving one or more requests).
    pub batches: u64,
    /// Images the model ran on.
    pub images: u64,
    /// Clients connected now.
    pub clients: u64,
    /// Clients connected since the start.
    pub clients_total: u64,
    /// Connections refused for a missing or wrong token (1.1).
    #[serde(default)]
    pub refused: u64,
    /// Seconds the model spent computing.
    pub busy_seconds: f64,
    /// Seconds since the host started.
    pub uptime_seconds: f64,
}

impl Stats {
    /// Images per model call (0 before the first).
    pub fn mean_batch_size(&self) -> f64 {
        if self.batches == 0 {
            0.0
        } else {
            self.images as f64 / self.batches as f64
        }
    }

    /// Requests served per model call (0 before the first).
    pub fn requests_per_batch(&self) -> f64 {
        if self.batches == 0 {
            0.0
        } else {
            self.requests.saturating_sub(self.errors) as f64 / self.batches as f64
        }
    }
}

impl fmt::Display for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} requests ({} failed) in {} batches of {} images (mean {:.1} images, {:.1} requests per batch); \
clients: {} now, {} in all; model busy {:.1} s of {:.1} s",
            self.requests,
            self.errors,
            self.batches,
            self.images,
            self.mean_batch_size(),
            self.requests_per_batch(),
            self.clients,
            self.clients_total,
            self.busy_seconds,
            self.uptime_seconds
        )?;
        if self.refused > 0 {
            write!(f, "; {} connections refused for their token", self.refused)?;
        }
        Ok(())
    }
}

/// The live counters behind [`Stats`], shared by the server's tasks.
#[derive(Debug)]
pub(crate) struct Counters {
    started: Instant,
    requests: AtomicU64,
    errors: AtomicU64,
    batches: AtomicU64,
    images: AtomicU64,
    clients: AtomicU64,
    clients_total: AtomicU64,
    refused: AtomicU64,
    busy_nanos: AtomicU64,
}

impl Counters {
    pub(crate) fn new() -> Self {
        Counters {
            started: Instant::now(),
            requests: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            batches: AtomicU64::new(0),
            images: AtomicU64::new(0),
            clients: AtomicU64::new(0),
            clients_total: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            busy_nanos: AtomicU64::new(0),
        }
    }

    pub(crate) fn request(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn error(&self) {
        self.errors.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn batch(&self, images: usize, busy: Duration) {
        self.batches.fetch_add(1, Ordering::Relaxed);
        self.images.fetch_add(images as u64, Ordering::Relaxed);
        let nanos = u64::try_from(busy.as_nanos()).unwrap_or(u64::MAX);
        self.busy_nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    /// Counts a new connection; returns its serial number (1, 2, …).
    pub(crate) fn connected(&self) -> u64 {
        self.clients.fetch_add(1, Ordering::Relaxed);
        self.clients_total.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Connections open now.
    pub(crate) fn clients(&self) -> u64 {
        self.clients.load(Ordering::Relaxed)
    }

    /// Counts a connection refused for its token.
    pub(crate) fn refused(&self) {
        self.refused.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn disconnected(&self) {
        self.clients.fetch_sub(1, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> Stats {
        Stats {
            requests: self.requests.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
            batches: self.batches.load(Ordering::Relaxed),
            images: self.images.load(Ordering::Relaxed),
            clients: self.clients.load(Ordering::Relaxed),
            clients_total: self.clients_total.load(Ordering::Relaxed),
            refused: self.refused.load(Ordering::Relaxed),
            busy_seconds: Duration::from_nanos(self.busy_nanos.load(Ordering::Relaxed))
                .as_secs_f64(),
            uptime_seconds: self.started.elapsed().as_secs_f64(),
        }
    }
}
