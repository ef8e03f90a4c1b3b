//! The import allow-list, checked on the parsed program before it runs.

use crate::protocol::{ErrorKind, ProgramError};
use ruff_python_ast::visitor::{Visitor, walk_stmt};
use ruff_python_ast::{Stmt, StmtImport, StmtImportFrom};
use ruff_text_size::TextRange;

/// Modules a program may import: computation only, nothing that reaches files, the
/// network, the environment or the interpreter itself.
pub const ALLOWED_MODULES: &[&str] = &[
    "collections",
    "dataclasses",
    "functools",
    "itertools",
    "json",
    "math",
    "re",
    "typing",
];

/// Refuses a program that imports anything outside [`ALLOWED_MODULES`], naming the
/// import and its line. Code that does not parse passes: the interpreter reports it.
pub fn check(code: &str) -> Result<(), ProgramError> {
    let Ok(parsed) = ruff_python_parser::parse_module(code) else {
        return Ok(());
    };
    let mut finder = Imports::default();
    for stmt in parsed.suite() {
        finder.visit_stmt(stmt);
    }
    match finder.refused.first() {
        None => Ok(()),
        Some((module, range)) => Err(ProgramError {
            kind: ErrorKind::Forbidden,
            message: format!(
                "`import {module}` is not allowed: programs may import only {}; tools reach \
                 images and the model, and nothing reaches files, the network or the environment",
                ALLOWED_MODULES.join(", ")
            ),
            line: Some(line_of(code, *range)),
        }),
    }
}

fn allowed(module: &str) -> bool {
    let top = module.split('.').next().unwrap_or(module);
    ALLOWED_MODULES.contains(&top)
}

fn line_of(code: &str, range: TextRange) -> u32 {
    let offset = usize::from(range.start()).min(code.len());
    1 + code.as_bytes()[..offset]
        .iter()
        .filter(|b| **b == b'\n')
        .count() as u32
}

#[derive(Default)]
struct Imports {
    refused: Vec<(String, TextRange)>,
}

impl<'a> Visitor<'a> for Imports {
    fn visit_stmt(&mut self, stmt: &'a Stmt) {
        match stmt {
            Stmt::Import(StmtImport { names, range, .. }) => {
                for alias in names {
                    let module = alias.name.id.as_str();
                    if !allowed(module) {
                        self.refused.push((module.to_owned(), *range));
                    }
                }
            }
            Stmt::ImportFrom(StmtImportFrom {
                module,
                range,
                level,
                ..
            }) => {
                let name = module.as_ref().map(|m| m.id.as_str()).unwrap_or("");
                if *level > 0 || !allowed(name) {
                    self.refused.push((name.to_owned(), *range));
                }
            }
            _ => {}
        }
        walk_stmt(self, stmt);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn computation_modules_pass_and_others_are_named_with_their_line() {
        assert!(check("import math\nfrom collections import Counter\nx = 1").is_ok());
        let err = check("x = 1\nif x:\n    import os\n").expect_err("os");
        assert_eq!(err.kind, ErrorKind::Forbidden);
        assert_eq!(err.line, Some(3));
        assert!(err.message.contains("import os"), "{}", err.message);
        let err = check("def f():\n    from pathlib import Path\n").expect_err("pathlib");
        assert!(err.message.contains("pathlib"), "{}", err.message);
    }
}
