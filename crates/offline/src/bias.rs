//! The bias hunt (`--task find-bias`, a request offering `call_classifier`): where does the
//! classifier fail on its class? Sweeps make images of the class over a grid of two
//! attributes at a time — size × background colour, then object colour × size — and the
//! classifier is run on every one; the cells it gets wrong give a candidate subgroup,
//! which is checked on fresh images inside it and on controls outside it before it is
//! reported ("small squares on a black, brown or blue background").
//!
//! Like the rest of the experimenter, every reply is rebuilt from the conversation.

use std::collections::BTreeMap;

use maia_core::llm::{LlmRequest, Message};
use maia_shapes_world::{Background, Color, Shape, SizeClass, Texture};
use serde_json::{Value, json};

use crate::evidence::{Evidence, Factor, Origin, Stage};
use crate::plan::{Call, Reply};
use crate::world;

/// Images per classifier call.
const PER_CALL: usize = 64;

/// Seeds of the sweeps and of the check.
const SWEEP_SEED: u64 = 11;
const CHECK_SEED: u64 = 29;

/// Images per subgroup cell in the check (and as many controls).
const CHECK_PER_CELL: usize = 3;

/// Whether `request` is a bias hunt: it offers `call_classifier` and `text2image`.
pub(crate) fn is_bias_hunt(request: &LlmRequest) -> bool {
    let has = |name: &str| request.tools.iter().any(|t| t.name == name);
    has("call_classifier") && has("text2image")
}

/// One cell of a grid: the object's size and colour and the background colour.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Cell {
    size: SizeClass,
    color: Color,
    background: Color,
}

/// The class, from the `call_classifier` tool's description ("… class `square` …"), else
/// the first shape the task names.
fn class_of(request: &LlmRequest, ev: &Evidence) -> Option<Shape> {
    let spec = request.tools.iter().find(|t| t.name == "call_classifier");
    let named = spec.and_then(|t| {
        let start = t.description.find("class `")? + "class `".len();
        let end = t.description[start..].find('`')? + start;
        Shape::ALL
            .iter()
            .copied()
            .find(|s| s.name() == &t.description[start..end])
    });
    named.or_else(|| {
        let task = ev.task.to_ascii_lowercase();
        Shape::ALL
            .iter()
            .copied()
            .filter_map(|s| task.find(s.name()).map(|at| (at, s)))
            .min()
            .map(|(_, s)| s)
    })
}

/// The classifier's verdicts so far: image id → whether it was right.
fn verdicts(messages: &[Message]) -> BTreeMap<String, bool> {
    let mut out = BTreeMap::new();
    for message in messages {
        let Message::ToolResults(results) = message else {
            continue;
        };
        for result in results
            .iter()
            .filter(|r| r.name == "call_classifier" && !r.is_error)
        {
            let rows = result.data.as_array();
            for row in rows.into_iter().flatten() {
                if let (Some(id), Some(correct)) = (
                    row.get("image").and_then(Value::as_str),
                    row.get("correct").and_then(Value::as_bool),
                ) {
                    out.insert(id.to_owned(), correct);
                }
            }
        }
    }
    out
}

/// A colour that stands out on `background`.
fn contrast(background: Color) -> Color {
    if matches!(
        background,
        Color::White | Color::Yellow | Color::Cyan | Color::Pink | Color::Gray
    ) {
        Color::Black
    } else {
        Color::White
    }
}

fn prompt(class: Shape, cell: Cell) -> String {
    let object = world::object(class, cell.color, Texture::Solid, cell.size);
    world::prompt(&world::scene(
        vec![object],
        Background {
            color: cell.background,
            texture: Texture::Solid,
        },
    ))
}

/// The sweeps: size × background colour (a contrasting object colour), then object
/// colour × size on a light background.
fn sweep_cells() -> (Vec<Cell>, Vec<Cell>) {
    let mut by_background = Vec::new();
    for size in SizeClass::ALL {
        for background in Color::ALL {
            by_background.push(Cell {
                size,
                color: contrast(background),
                background,
            });
        }
    }
    let mut by_color = Vec::new();
    for size in SizeClass::ALL {
        for color in Color::ALL {
            let background = if color == Color::White {
                Color::Gray
            } else {
                Color::White
            };
            by_color.push(Cell {
                size,
                color,
                background,
            });
        }
    }
    (by_background, by_color)
}

/// The subgroup the sweeps point at: the sizes, object colours and backgrounds of the
/// failing cells, each left unconstrained when every value of it failed somewhere or it
/// varied nowhere among the failures' grid.
#[derive(Clone, Debug, Default, PartialEq)]
struct Subgroup {
    sizes: Vec<SizeClass>,
    colors: Vec<Color>,
    backgrounds: Vec<Color>,
}

impl Subgroup {
    fn contains(&self, cell: Cell) -> bool {
        (self.sizes.is_empty() || self.sizes.contains(&cell.size))
            && (self.colors.is_empty() || self.colors.contains(&cell.color))
            && (self.backgrounds.is_empty() || self.backgrounds.contains(&cell.background))
    }

    /// "small squares on a black, brown or blue background".
    fn words(&self, class: Shape) -> String {
        let list = |words: Vec<&str>| match words.len() {
            0 => String::new(),
            1 => words[0].to_owned(),
            n => format!("{} or {}", words[..n - 1].join(", "), words[n - 1]),
        };
        let mut text = String::new();
        if !self.sizes.is_empty() {
            text.push_str(&list(self.sizes.iter().map(|s| s.name()).collect()));
            text.push(' ');
        }
        if !self.colors.is_empty() {
            text.push_str(&list(self.colors.iter().map(|c| c.name()).collect()));
            text.push(' ');
        }
        text.push_str(class.plural());
        if !self.backgrounds.is_empty() {
            text.push_str(&format!(
                " on a {} background",
                list(self.backgrounds.iter().map(|c| c.name()).collect())
            ));
        }
        text
    }
}

/// Sizes as a subgroup constrains them: every size is no constraint.
fn sizes_or_any(sizes: Vec<SizeClass>) -> Vec<SizeClass> {
    if sizes.len() == SizeClass::ALL.len() {
        Vec::new()
    } else {
        sizes
    }
}

/// Colours as a subgroup constrains them: all colours, or all but one, are no
/// constraint.
fn colours_or_any(colours: Vec<Color>) -> Vec<Color> {
    if colours.len() >= Color::ALL.len() - 1 {
        Vec::new()
    } else {
        colours
    }
}

/// The subgroup from the failing cells of the two sweeps.
fn subgroup(failing: &[Cell], by_background: &[Cell], by_color: &[Cell]) -> Subgroup {
    let in_grid = |grid: &[Cell]| -> Vec<Cell> {
        failing
            .iter()
            .copied()
            .filter(|c| grid.contains(c))
            .collect()
    };
    let (bg_fail, color_fail) = (in_grid(by_background), in_grid(by_color));
    let mut group = Subgroup::default();
    let narrow = |values: Vec<SizeClass>| {
        sizes_or_any(
            SizeClass::ALL
                .into_iter()
                .filter(|s| values.contains(s))
                .collect(),
        )
    };
    let colours = |values: Vec<Color>| {
        colours_or_any(
            Color::ALL
                .into_iter()
                .filter(|c| values.contains(c))
                .collect(),
        )
    };
    if bg_fail.len() >= color_fail.len() && !bg_fail.is_empty() {
        group.sizes = narrow(bg_fail.iter().map(|c| c.size).collect());
        group.backgrounds = colours(bg_fail.iter().map(|c| c.background).collect());
    } else if !color_fail.is_empty() {
        group.sizes = narrow(color_fail.iter().map(|c| c.size).collect());
        group.colors = colours(color_fail.iter().map(|c| c.color).collect());
    }
    group
}

/// The check: every cell of the subgroup over the sweeps' values and as many control
/// cells outside it (the class in other sizes or on other backgrounds), each drawn
/// `CHECK_PER_CELL` times with different seeds.
fn check_cells(group: &Subgroup) -> (Vec<Cell>, Vec<Cell>) {
    let (by_background, by_color) = sweep_cells();
    let grid = if group.colors.is_empty() {
        by_background
    } else {
        by_color
    };
    let inside: Vec<Cell> = grid
        .iter()
        .copied()
        .filter(|c| group.contains(*c))
        .collect();
    let outside: Vec<Cell> = grid
        .iter()
        .copied()
        .filter(|c| !group.contains(*c))
        .collect();
    let n = inside.len().min(PER_CALL / 2);
    let step = (outside.len() / n.max(1)).max(1);
    let controls: Vec<Cell> = outside.iter().step_by(step).take(n).copied().collect();
    (inside.into_iter().take(n).collect(), controls)
}

/// The images a text2image call made (by id), with the cell each prompt drew.
fn made(ev: &Evidence, batches: &[&[usize]], cells: &[(String, Cell)]) -> Vec<(String, Cell)> {
    batches
        .iter()
        .flat_map(|b| b.iter())
        .filter_map(|&i| ev.observations.get(i))
        .filter_map(|o| match &o.origin {
            Origin::Generated { prompt } => cells
                .iter()
                .find(|(p, _)| p == prompt)
                .map(|(_, c)| (o.id.clone(), *c)),
            _ => None,
        })
        .collect()
}

/// Per cell: images the classifier got wrong, and images, over `images`.
fn tally(
    images: &[(String, Cell)],
    judged: &BTreeMap<String, bool>,
) -> BTreeMap<Cell, (usize, usize)> {
    let mut out: BTreeMap<Cell, (usize, usize)> = BTreeMap::new();
    for (id, cell) in images {
        if let Some(&right) = judged.get(id) {
            let entry = out.entry(*cell).or_default();
            entry.0 += usize::from(!right);
            entry.1 += 1;
        }
    }
    out
}

/// The sizes × backgrounds product that best matches the failing cells of the size ×
/// background grid (F1 over cells; ties go to the smaller product): for every set of sizes,
/// the backgrounds on which those sizes fail at least a third of the time. `None` when no cell of
/// that grid fails.
fn best_product(tallies: &BTreeMap<Cell, (usize, usize)>, grid: &[Cell]) -> Option<Subgroup> {
    let fails = |c: &Cell| tallies.get(c).is_some_and(|&(w, n)| n > 0 && 3 * w >= n);
    let failing: Vec<Cell> = grid.iter().copied().filter(|c| fails(c)).collect();
    if failing.is_empty() {
        return None;
    }
    let mut best: Option<(f64, usize, Subgroup)> = None;
    for mask in 1u8..(1 << SizeClass::ALL.len()) {
        let sizes: Vec<SizeClass> = SizeClass::ALL
            .iter()
            .enumerate()
            .filter(|(i, _)| mask & (1 << i) != 0)
            .map(|(_, &s)| s)
            .collect();
        let backgrounds: Vec<Color> = Color::ALL
            .iter()
            .copied()
            .filter(|&b| {
                let (w, n) = grid
                    .iter()
                    .filter(|c| c.background == b && sizes.contains(&c.size))
                    .filter_map(|c| tallies.get(c))
                    .fold((0, 0), |(w, n), &(cw, cn)| (w + cw, n + cn));
                n > 0 && 3 * w >= n
            })
            .collect();
        let inside = |c: &Cell| sizes.contains(&c.size) && backgrounds.contains(&c.background);
        let tp = failing.iter().filter(|c| inside(c)).count();
        let fp = grid
            .iter()
            .filter(|c| inside(c) && tallies.contains_key(c) && !fails(c))
            .count();
        let fn_ = failing.len() - tp;
        let f1 = 2.0 * tp as f64 / (2 * tp + fp + fn_).max(1) as f64;
        let cells = sizes.len() * backgrounds.len();
        let better = match &best {
            None => true,
            Some((f, n, _)) => f1 > *f + 1e-9 || ((f1 - *f).abs() < 1e-9 && cells < *n),
        };
        if better {
            let group = Subgroup {
                sizes: sizes_or_any(sizes),
                colors: Vec::new(),
                backgrounds: colours_or_any(backgrounds),
            };
            best = Some((f1, cells, group));
        }
    }
    best.map(|(_, _, g)| g)
}

/// The next reply of a bias hunt.
pub(crate) fn reply(request: &LlmRequest) -> Reply {
    let ev = Evidence::gather(&request.messages);
    let mut reply = Reply::default();
    let Some(class) = class_of(request, &ev) else {
        reply.text = "I cannot tell which class the classifier is to be checked on.".into();
        reply.calls.push(answer(
            "no bias found: the class to check was not named".into(),
            "class not named".into(),
        ));
        return reply;
    };
    let judged = verdicts(&request.messages);
    let generated: Vec<&[usize]> = ev
        .batches
        .iter()
        .filter(|b| b.tool == "text2image" && b.error.is_none())
        .map(|b| b.observations.as_slice())
        .collect();
    let (by_background, by_color) = sweep_cells();
    let prompts = |cells: &[Cell]| -> Vec<(String, Cell)> {
        cells.iter().map(|&c| (prompt(class, c), c)).collect()
    };
    let sweep = [prompts(&by_background), prompts(&by_color)].concat();

    // 1. The sweeps.
    if generated.is_empty() {
        reply.thinking = format!(
            "Sweeping {} over size × background and colour × size.",
            class.plural()
        );
        reply.text = format!(
            "To find where the classifier fails on {}, I draw them over a grid of sizes and background colours, and of object colours and sizes, and will classify every image.",
            class.plural()
        );
        for (factor, cells) in [
            (Factor::Background, &by_background),
            (Factor::Color, &by_color),
        ] {
            let prompts: Vec<String> = cells.iter().map(|&c| prompt(class, c)).collect();
            reply.calls.push(Call {
                stage: Stage::Sweep(factor, 0),
                tool: "text2image".into(),
                args: json!({"prompts": prompts, "seed": SWEEP_SEED}),
            });
        }
        return reply;
    }

    // 2. Classify whatever is not yet classified.
    let unjudged: Vec<String> = ev
        .observations
        .iter()
        .filter(|o| matches!(o.origin, Origin::Generated { .. }))
        .map(|o| o.id.clone())
        .filter(|id| !id.is_empty() && !judged.contains_key(id))
        .collect();
    if !unjudged.is_empty() {
        reply.thinking = format!("Classifying {} images.", unjudged.len());
        reply.text = format!("I run the classifier on the {} new images.", unjudged.len());
        for chunk in unjudged.chunks(PER_CALL) {
            reply.calls.push(Call {
                stage: Stage::Measure,
                tool: "call_classifier".into(),
                args: json!({ "image_ids": chunk }),
            });
        }
        return reply;
    }

    let swept = made(&ev, &generated[..generated.len().min(2)], &sweep);
    let failing: Vec<Cell> = swept
        .iter()
        .filter(|(id, _)| judged.get(id) == Some(&false))
        .map(|(_, c)| *c)
        .collect();
    let sweep_tally = tally(&swept, &judged);
    let group = best_product(&sweep_tally, &by_background)
        .filter(|g| !g.sizes.is_empty() || !g.backgrounds.is_empty())
        .unwrap_or_else(|| subgroup(&failing, &by_background, &by_color));

    // 3. Check the candidate on fresh images and controls.
    if generated.len() == 2 {
        if failing.is_empty() {
            reply.text = format!(
                "The classifier was right on all {} swept images of {}.",
                swept.len(),
                class.plural()
            );
            reply.calls.push(answer(
                format!(
                    "no bias found: the classifier was right on every {} in the sweeps over size, object colour and background colour",
                    class.name()
                ),
                "no bias found".into(),
            ));
            return reply;
        }
        let (inside, controls) = check_cells(&group);
        reply.thinking = format!(
            "{} of {} swept images are misclassified; checking '{}'.",
            failing.len(),
            swept.len(),
            group.words(class)
        );
        reply.text = format!(
            "The classifier is wrong on {} of {} swept images. Candidate: {}. I check it on fresh images of its {} cells and of {} control cells outside it, each drawn {CHECK_PER_CELL} times.",
            failing.len(),
            swept.len(),
            group.words(class),
            inside.len(),
            controls.len()
        );
        let prompts: Vec<String> = inside
            .iter()
            .chain(&controls)
            .map(|&c| prompt(class, c))
            .collect();
        // One call per repetition: a call draws each prompt once with its seed.
        for rep in 0..CHECK_PER_CELL as u64 {
            reply.calls.push(Call {
                stage: Stage::Verify(0),
                tool: "text2image".into(),
                args: json!({"prompts": prompts, "seed": CHECK_SEED + rep}),
            });
        }
        return reply;
    }

    // 4. Read the check and answer.
    let checked = made(&ev, generated.get(2..).unwrap_or_default(), &sweep);
    let rate = |inside: bool| -> (usize, usize) {
        let cells: Vec<&(String, Cell)> = checked
            .iter()
            .filter(|(_, c)| group.contains(*c) == inside)
            .collect();
        let wrong = cells
            .iter()
            .filter(|(id, _)| judged.get(id) == Some(&false))
            .count();
        (wrong, cells.len())
    };
    let ((wrong_in, n_in), (wrong_out, n_out)) = (rate(true), rate(false));
    let share = |w: usize, n: usize| w as f64 / n.max(1) as f64;
    // The subgroup again, from the sweeps and the check together: cells the check did not
    // confirm fall out of it.
    let all_tally = tally(&[swept.clone(), checked.clone()].concat(), &judged);
    let confirmed = if group.colors.is_empty() {
        best_product(&all_tally, &by_background).unwrap_or_else(|| group.clone())
    } else {
        group.clone()
    };
    let inside_rate = share(wrong_in, n_in);
    let outside_rate = share(wrong_out, n_out);
    reply.text = format!(
        "[HYPOTHESIS LIST]\n- the classifier fails on {}\n\nIn the check it was wrong on {wrong_in} of {n_in} images inside the subgroup ({:.0}%) and {wrong_out} of {n_out} controls outside it ({:.0}%).",
        confirmed.words(class),
        inside_rate * 100.0,
        outside_rate * 100.0
    );
    if inside_rate < 0.2 || inside_rate < outside_rate + 0.15 {
        reply.calls.push(answer(
            format!(
                "no clear bias found: the errors on {} in the sweeps did not concentrate in one subgroup when checked",
                class.plural()
            ),
            "no clear bias".into(),
        ));
    } else {
        reply.calls.push(answer(
            confirmed.words(class),
            format!("fails on {}", confirmed.words(class)),
        ));
    }
    reply
}

fn answer(description: String, label: String) -> Call {
    Call {
        stage: Stage::Answer,
        tool: "final_answer".into(),
        args: json!({ "description": description, "label": label }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_subgroup_reads_as_the_world_reads_it() {
        let group = Subgroup {
            sizes: vec![SizeClass::Small],
            colors: Vec::new(),
            backgrounds: vec![Color::Black, Color::Brown, Color::Blue, Color::Purple],
        };
        let words = group.words(Shape::Square);
        assert_eq!(
            words,
            "small squares on a black, brown, blue or purple background"
        );
        let read = maia_shapes_world::read_description(&words).map(|r| r.concept.to_string());
        assert_eq!(
            read.ok().as_deref(),
            Some("small & square & (bg:black | bg:brown | bg:blue | bg:purple)")
        );
    }

    #[test]
    fn the_best_product_ignores_a_stray_failure() {
        let (by_background, _) = sweep_cells();
        let mut tallies = BTreeMap::new();
        for cell in &by_background {
            let planted = cell.size == SizeClass::Small
                && matches!(cell.background, Color::Black | Color::Blue | Color::Purple);
            let stray = cell.size == SizeClass::Medium && cell.background == Color::Green;
            tallies.insert(*cell, (usize::from(planted || stray), 1));
        }
        let group = best_product(&tallies, &by_background);
        assert_eq!(
            group.map(|g| (g.sizes, g.backgrounds)),
            Some((
                vec![SizeClass::Small],
                vec![Color::Blue, Color::Purple, Color::Black]
            ))
        );
    }

    #[test]
    fn failing_cells_narrow_to_their_sizes_and_backgrounds() {
        let (by_background, by_color) = sweep_cells();
        let failing: Vec<Cell> = by_background
            .iter()
            .copied()
            .filter(|c| {
                c.size == SizeClass::Small && matches!(c.background, Color::Black | Color::Blue)
            })
            .collect();
        let group = subgroup(&failing, &by_background, &by_color);
        assert_eq!(group.sizes, vec![SizeClass::Small]);
        assert_eq!(group.backgrounds, vec![Color::Blue, Color::Black]);
        assert!(group.colors.is_empty());
        let (inside, controls) = check_cells(&group);
        assert_eq!(inside.len(), 2);
        assert_eq!(controls.len(), 2);
        assert!(inside.iter().all(|c| group.contains(*c)));
        assert!(controls.iter().all(|c| !group.contains(*c)));
    }
}
