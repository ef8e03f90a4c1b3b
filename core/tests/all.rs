//! maia-core's integration tests, one test binary so libtorch and wasmtime are linked
//! once: each module is one area of the engine, tested through its public API.

mod activation_server;
mod datasets;
mod directions;
mod eval_score;
mod eval_transform;
mod exemplars;
mod sae;
mod support;
mod torch_model;
mod world_cnn;
