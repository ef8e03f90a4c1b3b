//! `maia-program-worker`: runs one experiment program for maia, which starts it and speaks
//! to it over stdin/stdout. Not meant to be run by hand.

/// Counts every allocation so the program's memory cap holds (see `monty-alloc`).
#[global_allocator]
static ALLOCATOR: monty_alloc::LimitedAllocator = monty_alloc::LimitedAllocator;

fn main() {
    std::process::exit(maia_program::worker::serve());
}
