//! The experimenter's write-up: what the last results showed, the hypothesis list, and
//! why the next experiment. Plain sentences and short lists, like a careful person's lab
//! notes; every number comes from the evidence.

use super::evidence::{Batch, Evidence, Factor, Observation, Origin, Stage};
use super::hypotheses::{Hyp, Judged, catalogue};
use super::world::{AtomId, Features, Kind};
use maia_shapes_world::Scene;

/// An activation with two decimals.
pub(crate) fn act(a: f32) -> String {
    format!("{a:.2}")
}

/// "fired" / "silent" for an observation.
fn verdict(ev: &Evidence, o: &Observation) -> &'static str {
    match ev.fired(o) {
        Some(true) => "fired",
        Some(false) => "silent",
        None => "not measured",
    }
}

/// The value a sweep varied, read from the drawn scene.
fn swept_value(scene: &Scene, factor: Factor, key: usize) -> String {
    let o = scene.objects.get(key);
    match factor {
        Factor::Shape => o.map(|o| o.shape.name().to_owned()),
        Factor::Color => o.map(|o| o.color.name().to_owned()),
        Factor::Texture => o.map(|o| o.texture.adjective().to_owned()),
        Factor::Size => o.map(|o| o.size_class().name().to_owned()),
        Factor::Count => Some(format!("{} object(s)", scene.objects.len())),
        Factor::Background => Some(format!(
            "{} {}",
            scene.background.texture.adjective(),
            scene.background.color.name()
        )),
    }
    .unwrap_or_else(|| "?".into())
}

fn list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// What the exemplars show, attribute by attribute, against the dataset's base rates.
pub(crate) fn exemplar_profile(ev: &Evidence) -> String {
    let exemplars: Vec<&Observation> = ev.exemplars();
    let with_scenes: Vec<&Features> = exemplars
        .iter()
        .filter_map(|o| o.features.as_ref())
        .collect();
    let acts: Vec<f32> = exemplars.iter().filter_map(|o| o.activation).collect();
    let mut out = String::new();
    if let (Some(first), Some(last)) = (acts.first(), acts.last()) {
        out.push_str(&format!(
            "The {} exemplars range from activation {} down to {}.",
            exemplars.len(),
            act(*first),
            act(*last)
        ));
    }
    if with_scenes.is_empty() {
        out.push_str(
            " Their content is not available to me as data, so I cannot read what they show.",
        );
        return out;
    }
    if let Some(top) = exemplars.first().and_then(|o| o.scene.as_ref()) {
        out.push_str(&format!(
            " The top one shows {}.",
            super::world::prompt(top)
        ));
    }
    out.push_str(" What they have in common, attribute by attribute (share of exemplars vs. share of all dataset images):\n");
    let n = with_scenes.len();
    let cat = catalogue();
    for kind in Kind::ALL {
        let mut counts: Vec<(usize, AtomId, f64)> = kind
            .atoms()
            .map(AtomId)
            .map(|a| {
                let hits = with_scenes.iter().filter(|f| Hyp::Atom(a).holds(f)).count();
                let rate = cat.index(&Hyp::Atom(a)).map_or(1.0, |i| cat.base_rate(i));
                (hits, a, rate)
            })
            .filter(|(hits, _, _)| *hits > 0)
            .collect();
        counts.sort_by(|x, y| y.0.cmp(&x.0).then(x.1.cmp(&y.1)));
        let shown: Vec<String> = counts
            .iter()
            .take(3)
            .map(|(hits, a, rate)| format!("{} {hits}/{n} ({:.0}%)", a.value_word(), rate * 100.0))
            .collect();
        let stands_out = counts.first().is_some_and(|(hits, _, rate)| {
            *hits * 10 >= n * 8 && (*hits as f64 / n as f64) > 2.0 * rate
        });
        out.push_str(&format!(
            "- {}: {}{}\n",
            kind.noun(),
            shown.join(", "),
            if stands_out { " ← stands out" } else { "" }
        ));
    }
    out
}

/// One line per probe of a generation batch, or a compact summary for sweeps.
pub(crate) fn batch_report(ev: &Evidence, batch: &Batch, best: Option<&Hyp>) -> String {
    let obs: Vec<&Observation> = batch
        .observations
        .iter()
        .filter_map(|&i| ev.observations.get(i))
        .collect();
    match &batch.stage {
        Stage::Sweep(factor, key) => {
            // (value, activation) of the images that fired and of those that did not.
            let mut fired: Vec<(String, String)> = Vec::new();
            let mut silent: Vec<(String, String)> = Vec::new();
            for o in &obs {
                let (Some(scene), Some(a)) = (&o.scene, o.activation) else {
                    continue;
                };
                let entry = (swept_value(scene, *factor, *key), act(a));
                if ev.fired(o) == Some(true) {
                    fired.push(entry);
                } else {
                    silent.push(entry);
                }
            }
            let names = |v: &[(String, String)]| {
                list(&v.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>())
            };
            let shown = |v: &[(String, String)]| {
                v.iter()
                    .map(|(n, a)| format!("{n} {a}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let conclusion = match (fired.len(), silent.len()) {
                (_, 0) => format!("the {} does not matter here", factor.noun()),
                (0, _) => "nothing fired: the prototype itself stays silent here".into(),
                (1, _) => format!("only {} fires", names(&fired)),
                (f, s) if f <= s => format!("only {} fire", names(&fired)),
                _ => format!("everything fires except {}", names(&silent)),
            };
            let which = if *factor == Factor::Background || *factor == Factor::Count {
                String::new()
            } else {
                format!(" of key object {}", key + 1)
            };
            let mut parts = Vec::new();
            if !fired.is_empty() {
                parts.push(format!("fired on {}", shown(&fired)));
            }
            if !silent.is_empty() {
                parts.push(format!("silent on {}", shown(&silent)));
            }
            format!(
                "- {} sweep{which}: {} → {conclusion}.",
                capitalize(factor.noun()),
                parts.join("; ")
            )
        }
        Stage::Edit => {
            let mut lines = vec!["- Edits of the top image:".to_owned()];
            for o in &obs {
                let Origin::Edited { source, edit } = &o.origin else {
                    continue;
                };
                let before = ev
                    .observations
                    .iter()
                    .find(|s| &s.id == source)
                    .and_then(|s| ev.fired(s));
                let after = ev.fired(o);
                let effect = match (before, after) {
                    (Some(true), Some(false)) => "silenced it",
                    (Some(true), Some(true)) => "it still fires",
                    (Some(false), Some(true)) => "now it fires",
                    (Some(false), Some(false)) => "still silent",
                    _ => "",
                };
                lines.push(format!(
                    "  - '{edit}' → {} ({effect})",
                    o.activation.map(act).unwrap_or_else(|| "?".into())
                ));
            }
            for failed in &batch.failed_edits {
                lines.push(format!("  - not applied: {failed}"));
            }
            lines.join("\n")
        }
        Stage::Survey => {
            let fired: Vec<String> = obs
                .iter()
                .filter(|o| ev.fired(o) == Some(true))
                .map(|o| {
                    format!(
                        "{} ({})",
                        o.what(),
                        o.activation.map(act).unwrap_or_default()
                    )
                })
                .collect();
            format!(
                "- Survey of {} varied scenes: {} fired{}",
                obs.len(),
                fired.len(),
                if fired.is_empty() {
                    ".".to_owned()
                } else {
                    format!(
                        ": {}",
                        fired.into_iter().take(6).collect::<Vec<_>>().join("; ")
                    )
                }
            )
        }
        _ => {
            let title = match &batch.stage {
                Stage::Verify(_) => "Positives and controls",
                Stage::Note => "Images from the note",
                _ => "Separating images",
            };
            let mut lines = vec![format!("- {title}:")];
            for o in &obs {
                let predicted = match (best, &o.features) {
                    (Some(h), Some(f)) => {
                        let p = h.holds(f);
                        let ok = ev.fired(o) == Some(p);
                        format!(
                            "; the leading hypothesis predicted {} {}",
                            if p { "fire" } else { "silence" },
                            if ok { "✓" } else { "✗" }
                        )
                    }
                    _ => String::new(),
                };
                lines.push(format!(
                    "  - {} → {} {}{predicted}",
                    o.what(),
                    o.activation.map(act).unwrap_or_else(|| "?".into()),
                    verdict(ev, o)
                ));
            }
            lines.join("\n")
        }
    }
}

/// The status of a judged hypothesis in words.
pub(crate) fn status(ev: &Evidence, j: &Judged, from: &[usize]) -> String {
    let exemplar_part = if j.exemplars > 0 {
        format!("{}/{} exemplars", j.exemplar_hits, j.exemplars)
    } else {
        String::new()
    };
    if j.errors == 0 {
        let mut parts = Vec::new();
        if !exemplar_part.is_empty() {
            parts.push(format!("present in {exemplar_part}"));
        }
        if j.checked > 0 {
            parts.push(format!("predicts all {} experiment images", j.checked));
        }
        if parts.is_empty() {
            parts.push("untested".into());
        }
        return parts.join("; ");
    }
    let example = j
        .first_error
        .and_then(|i| from.get(i))
        .and_then(|&i| ev.observations.get(i))
        .map(|o| {
            format!(
                ", e.g. {} → {} ({})",
                o.what(),
                o.activation.map(act).unwrap_or_default(),
                verdict(ev, o)
            )
        })
        .unwrap_or_default();
    format!(
        "refuted: wrong on {} of {} experiment images{example}",
        j.errors, j.checked
    )
}

/// The `[HYPOTHESIS LIST]`: the leader, its rivals and its structural alternatives.
pub(crate) fn hypothesis_list(ev: &Evidence, shown: &[&Judged], from: &[usize]) -> String {
    let mut out = String::from("[HYPOTHESIS LIST]\n");
    for (n, j) in shown.iter().enumerate() {
        out.push_str(&format!(
            "H{}: {} ({}; {}) — {}\n",
            n + 1,
            j.hyp.phrase(),
            j.hyp.expr(),
            j.hyp.structure(),
            status(ev, j, from)
        ));
    }
    out
}

/// The first letter upper-cased.
pub(crate) fn capitalize(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// A text in single quotes, cut after 140 characters.
pub(crate) fn quote(text: &str) -> String {
    let short: String = text.chars().take(140).collect();
    if short.len() < text.len() {
        format!("'{short}…'")
    } else {
        format!("'{short}'")
    }
}

/// Reasons joined with "; ", repeats counted ("only star (×2)").
pub(crate) fn reasons(whys: &[String]) -> String {
    let mut out: Vec<(String, usize)> = Vec::new();
    for why in whys {
        match out.iter_mut().find(|(w, _)| w == why) {
            Some((_, n)) => *n += 1,
            None => out.push((why.clone(), 1)),
        }
    }
    out.into_iter()
        .map(|(w, n)| if n > 1 { format!("{w} (×{n})") } else { w })
        .collect::<Vec<_>>()
        .join("; ")
}
