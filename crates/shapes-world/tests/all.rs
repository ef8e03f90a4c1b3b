//! The shapes world's integration tests, one test binary: each module is one area
//! (parsing, rendering, edits, datasets, synthetic units, property tests).

mod dataset;
mod edits;
mod parser_never_panics;
mod prompt_parsing;
mod reading;
mod rendering;
mod synthetic_units;
