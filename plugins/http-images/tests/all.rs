//! The http-images plugin's integration tests, one test binary.

mod fake_host;
