//! Tools compiled into maia (as opposed to plugins): the ones that need the target model
//! or the run's own state. They implement the same [`maia_plugin_sdk::Plugin`] trait and
//! are registered through [`crate::tools::InProcess`].

mod call_classifier;
mod call_unit;
mod dataset_exemplars;
mod describe_images;
mod describer;
mod final_answer;
mod sample_dataset;
mod show_images;

pub use call_classifier::{CallClassifier, class_names};
pub use call_unit::CallUnit;
pub use dataset_exemplars::DatasetExemplars;
pub use describe_images::DescribeImages;
pub use describer::{Describer, LlmDescriber, SceneDescriber};
pub use final_answer::FinalAnswer;
pub use sample_dataset::SampleDataset;
pub use show_images::ShowImages;
