//! What a maia run *is*, and nothing heavier: the events a run is made of ([`event`]), the
//! append-only journal that stores them ([`journal`]), the run's folder ([`dir`]), run ids
//! ([`run_id`]) and the one summary every view folds a journal into ([`summary`]).
//!
//! The agent (in `maia-core`) writes runs; `maia runs`, batch status, `maia report`, the
//! terminal UI and `maia watch` read them. Depends on serde only.

pub mod dir;
pub mod event;
pub mod journal;
pub mod run_id;
pub mod summary;

pub use dir::RunDir;
pub use event::{Event, ImageRecord, Record, RunStatus};
pub use summary::RunSummary;
