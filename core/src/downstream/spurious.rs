//! MAIA's spurious-feature removal experiment, as a table: sparse logistic regressions on
//! a classifier's penultimate-layer activations, fitted on its unbalanced training data
//! and measured on balanced data where the spurious attribute no longer predicts the
//! class. Rows: a given selection of units (the agent's), all units, the ℓ1 top-k with the
//! same k, random k (mean ± sd over seeds), and an oracle fitted on balanced data.
//!
//! The balanced data is split in two by position: the oracle fits on the even-numbered
//! images, and every row is measured on the odd-numbered ones.

use tch::Tensor;

use super::logreg::{LogReg, LogRegConfig};
use crate::dataset::Dataset;
use crate::target::{TargetError, TargetModel};

/// Activations of every unit of a layer over a labelled dataset.
#[derive(Debug)]
pub struct Activations {
    /// `[images, units]`: each unit's spatial max.
    pub x: Tensor,
    /// `[images]`: class indices into the experiment's class list.
    pub y: Tensor,
}

/// Why the experiment cannot run.
#[derive(Debug, thiserror::Error)]
pub enum SpuriousError {
    /// The data does not fit the experiment.
    #[error("{0}")]
    Data(String),
    /// The model failed.
    #[error(transparent)]
    Target(#[from] TargetError),
    /// A fit failed.
    #[error(transparent)]
    Fit(#[from] super::logreg::LogRegError),
}

/// One row of the table.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Row {
    /// What was fitted.
    pub method: String,
    /// Units it reads.
    pub units: usize,
    /// Accuracy on the balanced evaluation half (mean over seeds for random k).
    pub accuracy: f64,
    /// Standard deviation over seeds (random k only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sd: Option<f64>,
}

impl Row {
    /// The accuracy in percent, with its spread where there is one (`30.2 ± 2.4 %`).
    pub fn accuracy_text(&self) -> String {
        match self.sd {
            Some(sd) => format!("{:.1} ± {:.1} %", self.accuracy * 100.0, sd * 100.0),
            None => format!("{:.1} %", self.accuracy * 100.0),
        }
    }
}

/// The classes of a training and a balanced dataset (their folder names), checked to be
/// the same set, each with images in both.
pub fn classes(train: &Dataset, balanced: &Dataset) -> Result<Vec<String>, SpuriousError> {
    let of = |data: &Dataset, what: &str| -> Result<Vec<String>, SpuriousError> {
        let mut names = Vec::new();
        for i in 0..data.len() {
            let Some((class, _)) = data.class(i) else {
                return Err(SpuriousError::Data(format!(
                    "{what} image {} has no class: give a folder with one subfolder per class (ImageFolder)",
                    data.file_name(i)
                )));
            };
            if !names.contains(&class) {
                names.push(class);
            }
        }
        names.sort();
        Ok(names)
    };
    let train_classes = of(train, "training")?;
    let balanced_classes = of(balanced, "balanced")?;
    if train_classes != balanced_classes {
        return Err(SpuriousError::Data(format!(
            "the training data's classes ({}) are not the balanced data's ({}); every class needs images in both",
            train_classes.join(", "),
            balanced_classes.join(", ")
        )));
    }
    if train_classes.len() < 2 {
        return Err(SpuriousError::Data(format!(
            "the data has {} class; a classifier needs two or more",
            train_classes.len()
        )));
    }
    Ok(train_classes)
}

/// Every unit's activation (spatial max) on every image of `data`, in chunks; images the
/// model cannot take are an error naming them. `progress(done, total)` after each chunk.
pub fn activations(
    model: &dyn TargetModel,
    layer: &str,
    data: &Dataset,
    classes: &[String],
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Activations, SpuriousError> {
    let units = model.info().layer(layer).map(|l| l.units).ok_or_else(|| {
        TargetError::Unit(format!("{} has no layer `{layer}`", model.info().name))
    })?;
    let all: Vec<usize> = (0..units).collect();
    let mut rows: Vec<f32> = Vec::with_capacity(data.len() * units);
    let mut labels: Vec<i64> = Vec::with_capacity(data.len());
    const CHUNK: usize = 64;
    for start in (0..data.len()).step_by(CHUNK) {
        let end = (start + CHUNK).min(data.len());
        let mut images = Vec::with_capacity(end - start);
        for i in start..end {
            let image = data
                .image(i)
                .map_err(|e| SpuriousError::Data(format!("image {}: {e}", data.file_name(i))))?;
            images.push(image);
            let class = data.class(i).map(|(c, _)| c).unwrap_or_default();
            labels.push(classes.iter().position(|c| *c == class).unwrap_or(0) as i64);
        }
        let refs: Vec<_> = images.iter().collect();
        for (i, maxima) in model
            .unit_maxima(&refs, layer, &all)?
            .into_iter()
            .enumerate()
        {
            let maxima = maxima.map_err(|e| {
                SpuriousError::Data(format!("image {}: {e}", data.file_name(start + i)))
            })?;
            rows.extend_from_slice(&maxima);
        }
        progress(end, data.len());
    }
    Ok(Activations {
        x: Tensor::from_slice(&rows).view([labels.len() as i64, units as i64]),
        y: Tensor::from_slice(&labels),
    })
}

/// One row: a regression on `units`, fitted on the training activations and measured on
/// the balanced evaluation half (the table's "selected units" row under another name, for
/// a selection known some other way, such as a preset's planted truth).
pub fn subset_row(
    train: &Activations,
    balanced: &Activations,
    classes: usize,
    method: &str,
    units: &[usize],
    config: &LogRegConfig,
) -> Result<Row, SpuriousError> {
    let (_, odd) = halves(balanced.y.size()[0]);
    let model = LogReg::fit(&train.x, &train.y, classes as i64, units, config)?;
    Ok(Row {
        method: method.to_owned(),
        units: units.len(),
        accuracy: model.accuracy(
            &balanced.x.index_select(0, &odd),
            &balanced.y.index_select(0, &odd),
        ),
        sd: None,
    })
}

/// The table: `selected` units (if any) beside all units, the ℓ1 top-k with the same k
/// (`k` when nothing is selected), random k over `seeds` seeds, and the oracle.
pub fn table(
    train: &Activations,
    balanced: &Activations,
    classes: usize,
    selected: Option<&[usize]>,
    k: usize,
    seeds: u64,
    config: &LogRegConfig,
) -> Result<Vec<Row>, SpuriousError> {
    let width = train.x.size()[1] as usize;
    let n = balanced.y.size()[0];
    let (even, _) = halves(n);
    let (fit_x, fit_y) = (
        balanced.x.index_select(0, &even),
        balanced.y.index_select(0, &even),
    );
    let all: Vec<usize> = (0..width).collect();
    let row = |method: &str, features: &[usize]| {
        subset_row(train, balanced, classes, method, features, config)
    };
    let k = selected.map_or(k, <[usize]>::len).clamp(1, width);
    let mut rows = Vec::new();
    if let Some(units) = selected {
        rows.push(row("selected units", units)?);
    }
    rows.push(row("all units", &all)?);
    let l1 = LogReg::fit(&train.x, &train.y, classes as i64, &all, config)?;
    rows.push(row(&format!("ℓ1 top-{k}"), &l1.top(k))?);
    let mut randoms = Vec::new();
    for seed in 0..seeds.max(1) {
        randoms.push(row("random", &random_subset(width, k, seed))?.accuracy);
    }
    let mean = randoms.iter().sum::<f64>() / randoms.len() as f64;
    let sd = (randoms.iter().map(|a| (a - mean).powi(2)).sum::<f64>()
        / randoms.len().max(2).saturating_sub(1) as f64)
        .sqrt();
    rows.push(Row {
        method: format!("random {k}"),
        units: k,
        accuracy: mean,
        sd: Some(sd),
    });
    let oracle = LogReg::fit(&fit_x, &fit_y, classes as i64, &all, config)?;
    let (_, odd) = halves(n);
    rows.push(Row {
        method: "oracle (balanced data)".into(),
        units: width,
        accuracy: oracle.accuracy(
            &balanced.x.index_select(0, &odd),
            &balanced.y.index_select(0, &odd),
        ),
        sd: None,
    });
    Ok(rows)
}

/// The classifier's own accuracy on the balanced evaluation half, from its output layer's
/// activations on the balanced data (`head`, as [`activations`] measures them):
/// `columns[c]` is the output unit of the experiment's class `c`, and the prediction is
/// the class whose unit is highest.
pub fn head_row(head: &Activations, columns: &[usize], name: &str, units: usize) -> Row {
    let (_, odd) = halves(head.y.size()[0]);
    let index = Tensor::from_slice(&columns.iter().map(|&c| c as i64).collect::<Vec<_>>());
    let logits = head.x.index_select(0, &odd).index_select(1, &index);
    let accuracy = logits
        .argmax(-1, false)
        .eq_tensor(&head.y.index_select(0, &odd))
        .to_kind(tch::Kind::Float)
        .mean(tch::Kind::Float)
        .double_value(&[]);
    Row {
        method: format!("the classifier itself ({name})"),
        units,
        accuracy,
        sd: None,
    }
}

/// The table as Markdown.
pub fn markdown(rows: &[Row]) -> String {
    let mut out = String::from("| method | units | balanced accuracy |\n|---|---:|---:|\n");
    for row in rows {
        out.push_str(&format!(
            "| {} | {} | {} |\n",
            row.method,
            row.units,
            row.accuracy_text()
        ));
    }
    out
}

/// Indices of the even and odd positions of `0..n`.
fn halves(n: i64) -> (Tensor, Tensor) {
    let even: Vec<i64> = (0..n).step_by(2).collect();
    let odd: Vec<i64> = (1..n).step_by(2).collect();
    (Tensor::from_slice(&even), Tensor::from_slice(&odd))
}

/// `k` distinct columns of `0..width`, seeded.
fn random_subset(width: usize, k: usize, seed: u64) -> Vec<usize> {
    let mut rng = crate::rng::SplitMix::new(seed, 0x5EED);
    let mut columns: Vec<usize> = (0..width).collect();
    for i in 0..k.min(width) {
        let j = i + rng.below(width - i);
        columns.swap(i, j);
    }
    columns.truncate(k.min(width));
    columns.sort_unstable();
    columns
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    /// A planted shortcut in numbers: 30 units; unit 0 follows the class everywhere (the
    /// object), unit 1 follows the class only in training (the background, 90 %), the rest
    /// are noise.
    fn planted(n: i64, balanced: bool, seed: i64) -> Activations {
        tch::manual_seed(seed);
        let y = Tensor::randint(2, [n], (Kind::Int64, Device::Cpu));
        let x = Tensor::randn([n, 30], (Kind::Float, Device::Cpu));
        let label = y.to_kind(Kind::Float);
        let _ = x.select(1, 0).g_add_(&(&label * 1.2));
        let background = if balanced {
            Tensor::randint(2, [n], (Kind::Int64, Device::Cpu)).to_kind(Kind::Float)
        } else {
            let flip = Tensor::rand([n], (Kind::Float, Device::Cpu)).lt(0.1);
            label.where_self(&flip.logical_not(), &(1.0 - &label))
        };
        let _ = x.select(1, 1).g_add_(&(background * 6.0));
        Activations { x, y }
    }

    #[test]
    fn the_object_unit_beats_the_shortcut_under_a_shift() {
        let train = planted(800, false, 1);
        let balanced = planted(800, true, 2);
        let rows = table(
            &train,
            &balanced,
            2,
            Some(&[0]),
            1,
            5,
            &LogRegConfig::default(),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let get = |method: &str| {
            rows.iter()
                .find(|r| r.method.starts_with(method))
                .map(|r| r.accuracy)
                .unwrap_or_else(|| panic!("no {method} in {rows:?}"))
        };
        // The shortcut is what ℓ1 picks first; the object unit generalises.
        assert!(get("selected") > get("ℓ1 top-1") + 0.1, "{rows:?}");
        assert!(get("selected") > get("all units"), "{rows:?}");
        assert!(get("oracle") > 0.65, "{rows:?}");
        assert!(get("random") < get("selected"), "{rows:?}");
        let table = markdown(&rows);
        assert!(table.contains("| selected units | 1 |"), "{table}");
        assert!(table.contains(" ± "), "{table}");
    }

    #[test]
    fn random_subsets_are_distinct_and_seeded() {
        let a = random_subset(50, 10, 3);
        assert_eq!(a, random_subset(50, 10, 3));
        assert_ne!(a, random_subset(50, 10, 4));
        let mut unique = a.clone();
        unique.dedup();
        assert_eq!(unique.len(), 10);
        assert!(a.iter().all(|&c| c < 50));
    }
}
