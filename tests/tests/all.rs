//! Cross-crate integration tests at the plugin boundary, one test binary so libtorch and
//! wasmtime are linked once; shared servers and kits live in the `maia_tests` library.

mod agent_loop;
mod agent_sse;
mod call_classifier;
mod contracts;
mod example_plugins;
mod http_images;
mod image_servers;
mod llm_anthropic;
mod llm_openai;
mod offline_agent;
mod plugin_faults;
mod shapes_tools_wasm;
