//! Renders a prompt to a PNG and prints the scene and warnings.
//!
//! `cargo run -p maia-shapes-world --example render_prompt -- "two red circles" out.png [seed]`

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(prompt), Some(out)) = (args.first(), args.get(1)) else {
        eprintln!("usage: render_prompt PROMPT OUT.png [SEED]");
        return ExitCode::from(2);
    };
    let seed = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(0);
    let parsed = match maia_shapes_world::parse_prompt(prompt, seed) {
        Ok(parsed) => parsed,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    for warning in &parsed.warnings {
        eprintln!("warning: {warning}");
    }
    println!("{}", parsed.scene.to_json());
    match maia_shapes_world::render_png(&parsed.scene).map(|png| std::fs::write(out, png)) {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(e)) => {
            eprintln!("cannot write {out}: {e}");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
