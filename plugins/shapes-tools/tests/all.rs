//! The shapes-tools plugin's integration tests through `Plugin::call`, one test binary;
//! `common` holds the fake host they share.

mod common;
mod edit_images;
mod plugin;
mod text2image;
