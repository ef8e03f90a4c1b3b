//! Experiment design: which images to make next.
//!
//! - [`prototype`]: the part of a top image that carries the leading hypothesis (its key
//!   objects and background), the starting point of every sweep;
//! - [`sweep`]: one factor varied over all its values on one key object, all else fixed;
//! - [`edits`]: edit instructions for a top image — remove, recolor, reshape, retexture,
//!   resize the key objects, remove the others, change the background — each value
//!   chosen, where possible, so that the leading hypothesis predicts a change;
//! - [`checks`]: positives and controls for a hypothesis: random scenes that contain it,
//!   near misses that lack one part, and the structural tests that tell a conjunction
//!   from a co-occurrence, a disjunction's branches apart, and an exclusion's excluded
//!   case;
//! - [`separate`]: from the checks of several hypotheses, the images on which they
//!   disagree.

use super::hypotheses::Hyp;
use super::world::{
    self, AtomId, Features, Kind, Rng, contrast_colors, object, other_value, reference, set_atom,
    set_background_atom, set_object_atom,
};
use maia_shapes_world::{Background, Color, Object, Scene, Shape, SizeClass, Texture};

use super::evidence::Factor;

/// One image to make, with the reason.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Probe {
    /// What to draw.
    pub(crate) scene: Scene,
    /// Why, in a few words.
    pub(crate) why: String,
}

impl Probe {
    /// Its prompt.
    pub(crate) fn prompt(&self) -> String {
        world::prompt(&self.scene)
    }
}

/// The indices of the objects of `scene` that carry `h` (at most two).
pub(crate) fn key_objects(h: &Hyp, scene: &Scene) -> Vec<usize> {
    let f = Features::of(scene);
    let region = |i: usize| f.objects.get(i).map_or(0, |o| o | f.background);
    let first = |test: &dyn Fn(u64) -> bool| (0..scene.objects.len()).find(|&i| test(region(i)));
    let has = |m: u64, a: AtomId| m & a.bit() != 0;
    let found: Vec<usize> = match *h {
        Hyp::Atom(a) if !a.is_background() => first(&|m| has(m, a)).into_iter().collect(),
        Hyp::And(a, b) => first(&|m| has(m, a) && has(m, b)).into_iter().collect(),
        Hyp::AndNot(a, b) => first(&|m| has(m, a) && !has(m, b)).into_iter().collect(),
        Hyp::Or(a, b) => first(&|m| has(m, a) || has(m, b)).into_iter().collect(),
        Hyp::With(a, b) => {
            let one = first(&|m| has(m, a));
            let two = (0..scene.objects.len()).find(|&i| Some(i) != one && has(region(i), b));
            match (one, two) {
                (Some(x), Some(y)) => vec![x.min(y), x.max(y)],
                (Some(x), None) => vec![x],
                (None, Some(y)) => vec![y],
                (None, None) => Vec::new(),
            }
        }
        Hyp::Atom(_) => Vec::new(),
    };
    if found.is_empty() && !scene.objects.is_empty() {
        vec![0]
    } else {
        found
    }
}

/// The prototype: the key objects of `scene` on its background (a plain medium gray
/// square when the scene has none, so that sweeps have an object to vary).
pub(crate) fn prototype(h: &Hyp, scene: &Scene) -> Scene {
    let keys = key_objects(h, scene);
    let mut objects: Vec<Object> = keys
        .iter()
        .filter_map(|&i| scene.objects.get(i).copied())
        .collect();
    if objects.is_empty() {
        let gray = if scene.background.color == Color::Gray {
            Color::Black
        } else {
            Color::Gray
        };
        objects.push(object(
            Shape::Square,
            gray,
            Texture::Solid,
            SizeClass::Medium,
        ));
    }
    world::scene(objects, scene.background)
}

/// A color for the background that differs from every object's.
fn visible_background(scene: &Scene) -> Color {
    [Color::White, Color::Gray, Color::Black, Color::Yellow]
        .into_iter()
        .find(|c| scene.objects.iter().all(|o| o.color != *c))
        .unwrap_or(Color::White)
}

/// The prototype with one factor varied over all its values on key object `key`
/// (the background for [`Factor::Background`], copies for [`Factor::Count`]).
pub(crate) fn sweep(proto: &Scene, factor: Factor, key: usize) -> Vec<Probe> {
    let Some(&base) = proto.objects.get(key) else {
        return Vec::new();
    };
    let vary = |set: &dyn Fn(&mut Object), why: String| {
        let mut scene = proto.clone();
        if let Some(o) = scene.objects.get_mut(key) {
            set(o);
        }
        Probe { scene, why }
    };
    match factor {
        Factor::Shape => Shape::ALL
            .iter()
            .map(|&s| vary(&|o| o.shape = s, s.name().into()))
            .collect(),
        Factor::Texture => Texture::ALL
            .iter()
            .map(|&t| vary(&|o| o.texture = t, t.adjective().into()))
            .collect(),
        Factor::Size => SizeClass::ALL
            .iter()
            .map(|&s| vary(&|o| o.size = s.midpoint(), s.name().into()))
            .collect(),
        Factor::Color => Color::ALL
            .iter()
            .map(|&c| {
                let mut probe = vary(&|o| o.color = c, c.name().into());
                if proto.background.color == c {
                    // Keep the object visible: same factor, a background it stands out on.
                    probe.scene.background.color = visible_background(&probe.scene);
                    probe.why = format!(
                        "{} (on {}, to stay visible)",
                        c.name(),
                        probe.scene.background.color.name()
                    );
                }
                probe
            })
            .collect(),
        Factor::Count => (1..=3)
            .map(|n| {
                let mut scene = proto.clone();
                scene.objects = vec![base; n];
                Probe {
                    scene,
                    why: format!("{n}"),
                }
            })
            .collect(),
        Factor::Background => {
            let mut out: Vec<Probe> = Color::ALL
                .iter()
                .filter(|&&c| {
                    c == proto.background.color || proto.objects.iter().all(|o| o.color != c)
                })
                .map(|&c| {
                    let mut scene = proto.clone();
                    scene.background.color = c;
                    Probe {
                        scene,
                        why: c.name().into(),
                    }
                })
                .collect();
            out.extend(Texture::ALL.iter().map(|&t| {
                let mut scene = proto.clone();
                scene.background.texture = t;
                Probe {
                    scene,
                    why: format!("{} background", t.adjective()),
                }
            }));
            out
        }
    }
}

/// An edit instruction with the scene it should produce.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct EditPlan {
    /// The instruction.
    pub(crate) edit: String,
    /// Why.
    pub(crate) why: String,
}

/// A value of `kind` for object `index` (or the background) that changes what `h`
/// predicts, if one does; otherwise any other visible value.
fn telling_value(h: &Hyp, scene: &Scene, index: usize, kind: Kind) -> Option<(AtomId, Scene)> {
    let current = AtomId::of(kind, scene.objects.get(index), scene.background)?;
    let before = h.holds(&Features::of(scene));
    let mut first = None;
    let preferred: Vec<AtomId> = match kind {
        Kind::Color => contrast_colors().to_vec(),
        Kind::BgColor => contrast_colors()
            .iter()
            .filter_map(|a| match a.atom() {
                maia_shapes_world::Atom::Color(c) => Some(AtomId::bg_color(c)),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    let mut avoid = vec![current];
    while let Some(value) = other_value(kind, &avoid, &preferred) {
        avoid.push(value);
        let mut edited = scene.clone();
        set_atom(&mut edited, index, value);
        let clash = match kind {
            Kind::Color => edited
                .objects
                .get(index)
                .is_some_and(|o| o.color == edited.background.color),
            Kind::BgColor => edited
                .objects
                .iter()
                .any(|o| o.color == edited.background.color),
            _ => false,
        };
        if clash {
            continue;
        }
        if h.holds(&Features::of(&edited)) != before {
            return Some((value, edited));
        }
        first.get_or_insert((value, edited));
    }
    first
}

/// Edits of a top image that test `h`: what silences the unit?
pub(crate) fn edits(h: &Hyp, scene: &Scene) -> Vec<EditPlan> {
    let keys = key_objects(h, scene);
    let mut out = Vec::new();
    for &k in &keys {
        let Some(o) = scene.objects.get(k) else {
            continue;
        };
        let name = reference(o);
        out.push(EditPlan {
            edit: format!("remove {name}"),
            why: format!("without the {}", world::label(o)),
        });
        if let Some((c, _)) = telling_value(h, scene, k, Kind::Color) {
            out.push(EditPlan {
                edit: format!("make {name} {}", c.value_word()),
                why: format!("its color → {}", c.value_word()),
            });
        }
        if let Some((s, _)) = telling_value(h, scene, k, Kind::Shape) {
            out.push(EditPlan {
                edit: format!("replace {name} with a {}", s.value_word()),
                why: format!("its shape → {}", s.value_word()),
            });
        }
        if let Some((t, _)) = telling_value(h, scene, k, Kind::Texture) {
            out.push(EditPlan {
                edit: format!("make {name} {}", t.value_word()),
                why: format!("its texture → {}", t.value_word()),
            });
        }
        if let Some((s, _)) = telling_value(h, scene, k, Kind::Size) {
            out.push(EditPlan {
                edit: format!("make {name} {}", s.value_word()),
                why: format!("its size → {}", s.value_word()),
            });
        }
    }
    for (i, o) in scene.objects.iter().enumerate() {
        if keys.contains(&i) || out.len() >= 12 {
            continue;
        }
        out.push(EditPlan {
            edit: format!("remove {}", reference(o)),
            why: format!("without the {} (not a key object)", world::label(o)),
        });
    }
    if let Some((c, _)) = telling_value(h, scene, 0, Kind::BgColor) {
        out.push(EditPlan {
            edit: format!("make the background {}", c.value_word()),
            why: format!("background → {}", c.value_word()),
        });
    }
    out
}

/// What a scene built for a check must and must not contain.
#[derive(Clone, Debug, Default)]
struct Spec {
    /// Per object: atoms it must have and atoms it must not.
    objects: Vec<(Vec<AtomId>, Vec<AtomId>)>,
    /// Background atoms it must have.
    bg_require: Vec<AtomId>,
    /// Background atoms it must not have.
    bg_forbid: Vec<AtomId>,
}

impl Spec {
    fn object(mut self, require: &[AtomId], forbid: &[AtomId]) -> Spec {
        self.objects.push((require.to_vec(), forbid.to_vec()));
        self
    }

    fn bg(mut self, require: &[AtomId], forbid: &[AtomId]) -> Spec {
        self.bg_require.extend_from_slice(require);
        self.bg_forbid.extend_from_slice(forbid);
        self
    }
}

/// Re-draws an attribute of `kind` until it is not forbidden.
fn avoid(
    rng: &mut Rng,
    kind: Kind,
    current: AtomId,
    forbid: &[AtomId],
    require: &[AtomId],
) -> AtomId {
    if !forbid.contains(&current) {
        return current;
    }
    let allowed: Vec<AtomId> = kind
        .atoms()
        .map(AtomId)
        .filter(|a| !forbid.contains(a) && !require.contains(a))
        .collect();
    rng.pick(&allowed).unwrap_or(current)
}

fn build_object(rng: &mut Rng, bg: Background, require: &[AtomId], forbid: &[AtomId]) -> Object {
    let mut o = rng.object(bg);
    for &a in require.iter().filter(|a| !a.is_background()) {
        set_object_atom(&mut o, a);
    }
    for kind in [Kind::Shape, Kind::Color, Kind::Texture, Kind::Size] {
        if require.iter().any(|a| a.kind() == kind) {
            continue;
        }
        if let Some(current) = AtomId::of(kind, Some(&o), bg) {
            let value = avoid(rng, kind, current, forbid, require);
            set_object_atom(&mut o, value);
        }
    }
    // A fill the background swallows helps no one: pick another where allowed.
    if o.color == bg.color && !require.iter().any(|a| a.kind() == Kind::Color) {
        let allowed: Vec<AtomId> = Kind::Color
            .atoms()
            .map(AtomId)
            .filter(|a| !forbid.contains(a) && *a != AtomId::color(bg.color))
            .collect();
        if let Some(c) = rng.pick(&allowed) {
            set_object_atom(&mut o, c);
        }
    }
    o
}

fn build(rng: &mut Rng, spec: &Spec) -> Scene {
    let mut bg = rng.background();
    for &a in &spec.bg_require {
        set_background_atom(&mut bg, a);
    }
    for kind in [Kind::BgColor, Kind::BgTexture] {
        if spec.bg_require.iter().any(|a| a.kind() == kind) {
            continue;
        }
        if let Some(current) = AtomId::of(kind, None, bg) {
            let value = avoid(rng, kind, current, &spec.bg_forbid, &spec.bg_require);
            set_background_atom(&mut bg, value);
        }
    }
    // Keep required object colors visible against the background.
    let required_colors: Vec<Color> = spec
        .objects
        .iter()
        .flat_map(|(req, _)| req.iter())
        .filter_map(|a| match a.atom() {
            maia_shapes_world::Atom::Color(c) => Some(c),
            _ => None,
        })
        .collect();
    if required_colors.contains(&bg.color)
        && !spec.bg_require.iter().any(|a| a.kind() == Kind::BgColor)
    {
        let allowed: Vec<Color> = Color::ALL
            .iter()
            .copied()
            .filter(|c| {
                !required_colors.contains(c) && !spec.bg_forbid.contains(&AtomId::bg_color(*c))
            })
            .collect();
        if let Some(c) = rng.pick(&allowed) {
            bg.color = c;
        }
    }
    let objects = spec
        .objects
        .iter()
        .map(|(require, forbid)| build_object(rng, bg, require, forbid))
        .collect();
    world::scene(objects, bg)
}

/// Adds a random object that leaves `h`'s prediction unchanged, when one is found.
fn add_distractor(rng: &mut Rng, h: &Hyp, scene: &mut Scene) {
    let before = h.holds(&Features::of(scene));
    for _ in 0..6 {
        let mut candidate = scene.clone();
        candidate.objects.push(rng.object(scene.background));
        if h.holds(&Features::of(&candidate)) == before {
            *scene = candidate;
            return;
        }
    }
}

/// Positives and controls for `h`, each with the reason; randomized by `seed`, checked
/// against `h` so that every positive contains the concept and every control lacks it.
pub(crate) fn checks(h: &Hyp, seed: u64) -> Vec<(Probe, bool)> {
    let mut rng = Rng::new(seed);
    let mut specs: Vec<(Spec, String, bool)> = Vec::new();
    let word = |a: AtomId| a.value_word();
    let obj = || Spec::default();
    match *h {
        Hyp::Atom(a) if a.is_background() => {
            for _ in 0..2 {
                specs.push((
                    obj().object(&[], &[]).bg(&[a], &[]),
                    format!("a {} background", word(a)),
                    true,
                ));
            }
            specs.push((
                obj().object(&[], &[]).bg(&[], &[a]),
                format!("no {} background", word(a)),
                false,
            ));
            specs.push((
                obj().object(&[], &[]).object(&[], &[]).bg(&[], &[a]),
                format!("no {} background", word(a)),
                false,
            ));
        }
        Hyp::Atom(a) => {
            for _ in 0..3 {
                specs.push((
                    obj().object(&[a], &[]),
                    format!("{} (other attributes random)", word(a)),
                    true,
                ));
            }
            specs.push((
                obj().object(&[], &[a]),
                format!("an object that is not {}", word(a)),
                false,
            ));
            specs.push((
                obj().object(&[], &[a]).object(&[], &[a]),
                format!("two objects, neither {}", word(a)),
                false,
            ));
        }
        Hyp::And(a, b) if a.is_background() => {
            // A background's color with its texture.
            specs.push((
                obj().object(&[], &[]).bg(&[a, b], &[]),
                format!("{} {} background", word(a), word(b)),
                true,
            ));
            specs.push((
                obj().object(&[], &[]).bg(&[a], &[b]),
                format!("{} background, not {}", word(a), word(b)),
                false,
            ));
            specs.push((
                obj().object(&[], &[]).bg(&[b], &[a]),
                format!("{} background, not {}", word(b), word(a)),
                false,
            ));
        }
        Hyp::And(a, b) if b.is_background() => {
            for _ in 0..2 {
                specs.push((
                    obj().object(&[a], &[]).bg(&[b], &[]),
                    format!("{} on a {} background", word(a), word(b)),
                    true,
                ));
            }
            specs.push((
                obj().object(&[a], &[]).bg(&[], &[b]),
                format!("{} on another background", word(a)),
                false,
            ));
            specs.push((
                obj().object(&[], &[a]).bg(&[b], &[]),
                format!("no {} on a {} background", word(a), word(b)),
                false,
            ));
        }
        Hyp::And(a, b) => {
            for _ in 0..2 {
                specs.push((
                    obj().object(&[a, b], &[]),
                    format!("{} and {} on one object", word(a), word(b)),
                    true,
                ));
            }
            specs.push((
                obj().object(&[a], &[b]),
                format!("{} without {}", word(a), word(b)),
                false,
            ));
            specs.push((
                obj().object(&[b], &[a]),
                format!("{} without {}", word(b), word(a)),
                false,
            ));
            specs.push((
                obj().object(&[a], &[b]).object(&[b], &[a]),
                format!(
                    "{} and {} on different objects (conjunction or co-occurrence?)",
                    word(a),
                    word(b)
                ),
                false,
            ));
        }
        Hyp::AndNot(a, b) if b.is_background() => {
            for _ in 0..2 {
                specs.push((
                    obj().object(&[a], &[]).bg(&[], &[b]),
                    format!("{} not on a {} background", word(a), word(b)),
                    true,
                ));
            }
            specs.push((
                obj().object(&[a], &[]).bg(&[b], &[]),
                format!("the excluded case: {} on a {} background", word(a), word(b)),
                false,
            ));
            specs.push((
                obj().object(&[], &[a]).bg(&[], &[b]),
                format!("no {}", word(a)),
                false,
            ));
        }
        Hyp::AndNot(a, b) => {
            for _ in 0..2 {
                specs.push((
                    obj().object(&[a], &[b]),
                    format!("{} that is not {}", word(a), word(b)),
                    true,
                ));
            }
            specs.push((
                obj().object(&[a, b], &[]),
                format!("the excluded case: {} and {}", word(a), word(b)),
                false,
            ));
            specs.push((
                obj().object(&[a, b], &[]).object(&[a, b], &[]),
                format!("two of the excluded case: {} and {}", word(a), word(b)),
                false,
            ));
            specs.push((obj().object(&[], &[a]), format!("no {}", word(a)), false));
            specs.push((
                obj().object(&[a], &[b]).object(&[b], &[a]),
                format!(
                    "{} beside a separate {} (the exclusion is per object)",
                    word(a),
                    word(b)
                ),
                true,
            ));
        }
        Hyp::Or(a, b) if a.is_background() => {
            specs.push((
                obj().object(&[], &[]).bg(&[a], &[b]),
                format!("only {}", word(a)),
                true,
            ));
            specs.push((
                obj().object(&[], &[]).bg(&[b], &[a]),
                format!("only {}", word(b)),
                true,
            ));
            specs.push((
                obj().object(&[], &[]).bg(&[], &[a, b]),
                format!("neither {} nor {}", word(a), word(b)),
                false,
            ));
        }
        Hyp::Or(a, b) => {
            for _ in 0..2 {
                specs.push((
                    obj().object(&[a], &[b]),
                    format!("only {} (first branch)", word(a)),
                    true,
                ));
                specs.push((
                    obj().object(&[b], &[a]),
                    format!("only {} (second branch)", word(b)),
                    true,
                ));
            }
            specs.push((
                obj().object(&[], &[a, b]),
                format!("neither {} nor {}", word(a), word(b)),
                false,
            ));
            specs.push((
                obj().object(&[], &[a, b]).object(&[], &[a, b]),
                format!("two objects, neither {} nor {}", word(a), word(b)),
                false,
            ));
        }
        Hyp::With(a, b) => {
            for _ in 0..2 {
                specs.push((
                    obj().object(&[a], &[b]).object(&[b], &[a]),
                    format!("{} together with {}", word(a), word(b)),
                    true,
                ));
            }
            specs.push((obj().object(&[a], &[b]), format!("only {}", word(a)), false));
            specs.push((obj().object(&[b], &[a]), format!("only {}", word(b)), false));
            specs.push((
                obj().object(&[a], &[b]).object(&[a], &[b]),
                format!("two of {}, no {}", word(a), word(b)),
                false,
            ));
            if a.kind() != b.kind() {
                specs.push((
                    obj().object(&[a, b], &[]),
                    format!("{} and {} on one object", word(a), word(b)),
                    true,
                ));
            }
        }
    }
    let mut out = Vec::new();
    for (k, (spec, why, expect)) in specs.iter().enumerate() {
        let mut scene = build(&mut rng, spec);
        if k % 2 == 1 && scene.objects.len() < 3 {
            add_distractor(&mut rng, h, &mut scene);
        }
        if h.holds(&Features::of(&scene)) == *expect {
            out.push((
                Probe {
                    scene,
                    why: why.clone(),
                },
                *expect,
            ));
        }
    }
    // The empty control: a background alone.
    let bg = rng.background();
    let empty = world::scene(Vec::new(), bg);
    let expect = h.holds(&Features::of(&empty));
    out.push((
        Probe {
            scene: empty,
            why: "no objects at all (control)".into(),
        },
        expect,
    ));
    out
}

/// From the checks of `best` and its `rivals`, images on which `best` and each rival
/// disagree (greedy cover, at most `max`), plus one positive and one control for `best`
/// if none was picked. Empty when no check separates them.
pub(crate) fn separate(best: &Hyp, rivals: &[Hyp], seed: u64, max: usize) -> Vec<Probe> {
    let mut pool: Vec<Probe> = checks(best, seed).into_iter().map(|(p, _)| p).collect();
    for (i, rival) in rivals.iter().enumerate() {
        pool.extend(
            checks(rival, seed.wrapping_add(1 + i as u64))
                .into_iter()
                .map(|(p, _)| p),
        );
    }
    let features: Vec<Features> = pool.iter().map(|p| Features::of(&p.scene)).collect();
    let splits = |f: &Features, r: &Hyp| best.holds(f) != r.holds(f);
    let mut unsplit: Vec<usize> = (0..rivals.len()).collect();
    let mut chosen: Vec<usize> = Vec::new();
    while !unsplit.is_empty() && chosen.len() < max {
        let Some((pick, gain)) = features
            .iter()
            .enumerate()
            .filter(|(i, _)| !chosen.contains(i))
            .map(|(i, f)| {
                (
                    i,
                    unsplit.iter().filter(|&&r| splits(f, &rivals[r])).count(),
                )
            })
            .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(&a.0)))
        else {
            break;
        };
        if gain == 0 {
            break;
        }
        chosen.push(pick);
        unsplit.retain(|&r| !splits(&features[pick], &rivals[r]));
    }
    if chosen.is_empty() {
        return Vec::new();
    }
    for want in [true, false] {
        if chosen.len() < max + 2
            && !chosen.iter().any(|&i| best.holds(&features[i]) == want)
            && let Some(i) = (0..pool.len()).find(|&i| best.holds(&features[i]) == want)
        {
            chosen.push(i);
        }
    }
    chosen.sort_unstable();
    chosen.into_iter().map(|i| pool[i].clone()).collect()
}

/// A varied set of scenes for a first look when there are no exemplars.
pub(crate) fn survey(index: usize, n: usize) -> Vec<Probe> {
    maia_shapes_world::generate(n, 0x5u64 + 1000 * index as u64)
        .map(|(_, scene)| Probe {
            why: scene.inventory(),
            scene,
        })
        .collect()
}

/// A scene with the attribute words of a human's note on the prototype's background, if
/// the note names any.
pub(crate) fn from_note(note: &str, proto: Option<&Scene>) -> Option<Probe> {
    let atoms: Vec<AtomId> = note
        .split(|c: char| !c.is_ascii_alphanumeric() && c != ':')
        .filter_map(maia_shapes_world::Atom::parse)
        .filter_map(|a| AtomId::all().find(|id| id.atom() == a))
        .collect();
    if atoms.is_empty() {
        return None;
    }
    let mut base = proto
        .and_then(|p| p.objects.first().copied())
        .unwrap_or_else(|| {
            object(
                Shape::Circle,
                Color::Gray,
                Texture::Solid,
                SizeClass::Medium,
            )
        });
    let mut bg = proto.map(|p| p.background).unwrap_or(Background {
        color: Color::White,
        texture: Texture::Solid,
    });
    for &a in &atoms {
        if a.is_background() {
            set_background_atom(&mut bg, a);
        } else {
            set_object_atom(&mut base, a);
        }
    }
    if base.color == bg.color {
        bg.color = if bg.color == Color::White {
            Color::Gray
        } else {
            Color::White
        };
    }
    let words: Vec<String> = atoms.iter().map(|a| a.word()).collect();
    Some(Probe {
        scene: world::scene(vec![base], bg),
        why: format!("from your note: {}", words.join(", ")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hypotheses::catalogue;
    use crate::world::object_mask;

    #[test]
    fn checks_contain_or_lack_the_concept_as_labelled() {
        for (i, h) in catalogue().hyps().iter().enumerate().step_by(5) {
            let checks = checks(h, i as u64);
            assert!(
                checks.iter().any(|(_, e)| *e),
                "{} has no positive",
                h.expr()
            );
            assert!(
                checks.iter().any(|(_, e)| !*e),
                "{} has no control",
                h.expr()
            );
            for (probe, expect) in &checks {
                assert_eq!(
                    h.holds(&Features::of(&probe.scene)),
                    *expect,
                    "{}: {}",
                    h.expr(),
                    probe.why
                );
                let parsed = maia_shapes_world::parse_prompt(&probe.prompt(), 1)
                    .unwrap_or_else(|e| panic!("{e}"));
                assert_eq!(
                    Features::of(&parsed.scene),
                    Features::of(&probe.scene),
                    "{}",
                    probe.prompt()
                );
            }
        }
    }

    #[test]
    fn a_conjunction_is_separated_from_a_co_occurrence() {
        let red = AtomId::color(Color::Red);
        let circle = AtomId::shape(Shape::Circle);
        let and = Hyp::And(circle, red);
        let with = Hyp::With(circle, red);
        let probes = separate(&and, &[with], 3, 6);
        assert!(
            probes.iter().any(|p| {
                let f = Features::of(&p.scene);
                and.holds(&f) != with.holds(&f)
            }),
            "{probes:?}"
        );
    }

    #[test]
    fn sweeps_change_one_factor() {
        let proto = world::scene(
            vec![object(
                Shape::Circle,
                Color::Red,
                Texture::Solid,
                SizeClass::Medium,
            )],
            Background {
                color: Color::White,
                texture: Texture::Solid,
            },
        );
        let colors = sweep(&proto, Factor::Color, 0);
        assert_eq!(colors.len(), 12);
        for p in &colors {
            let o = p.scene.objects[0];
            assert_eq!((o.shape, o.texture), (Shape::Circle, Texture::Solid));
            assert_ne!(o.color, p.scene.background.color, "{}", p.why);
        }
        assert_eq!(sweep(&proto, Factor::Shape, 0).len(), 9);
        assert_eq!(object_mask(&proto.objects[0]).count_ones(), 4);
    }

    #[test]
    fn edits_name_the_key_object() {
        let scene = world::scene(
            vec![
                object(Shape::Star, Color::Blue, Texture::Solid, SizeClass::Small),
                object(
                    Shape::Circle,
                    Color::Red,
                    Texture::Stripes,
                    SizeClass::Large,
                ),
            ],
            Background {
                color: Color::White,
                texture: Texture::Solid,
            },
        );
        let h = Hyp::And(AtomId::shape(Shape::Circle), AtomId::color(Color::Red));
        let plans = edits(&h, &scene);
        assert_eq!(plans[0].edit, "remove the large red striped circle");
        for plan in &plans {
            let done = maia_shapes_world::apply_edit(&scene, &plan.edit, 0)
                .unwrap_or_else(|e| panic!("{}: {e}", plan.edit));
            assert!(
                done.warnings.is_empty(),
                "{}: {:?}",
                plan.edit,
                done.warnings
            );
        }
    }
}
