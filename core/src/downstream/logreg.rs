//! Sparse multinomial logistic regression on unit activations, as MAIA's spurious-feature
//! experiment fits it: features standardised on the training data, softmax cross-entropy
//! plus an ℓ1 penalty, minimised by proximal gradient descent (ISTA with a fixed step) on
//! the full batch. Deterministic: no sampling, weights start at zero.

use tch::{Device, Kind, Tensor};

/// Settings of a fit.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LogRegConfig {
    /// ℓ1 penalty per weight (on standardised features).
    pub l1: f64,
    /// Gradient steps.
    pub steps: usize,
    /// Step size.
    pub learning_rate: f64,
}

impl Default for LogRegConfig {
    fn default() -> Self {
        LogRegConfig {
            l1: 1e-3,
            steps: 1000,
            learning_rate: 0.5,
        }
    }
}

/// A fitted model.
#[derive(Debug)]
pub struct LogReg {
    /// Columns of the input the model reads, in order.
    pub features: Vec<usize>,
    mean: Tensor,
    std: Tensor,
    /// `[features, classes]`.
    weights: Tensor,
    /// `[classes]`.
    bias: Tensor,
}

/// Why a fit cannot be made.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum LogRegError {
    /// Inputs of the wrong shape.
    #[error("{0}")]
    Shape(String),
}

impl LogReg {
    /// Fits on the columns `features` of `x` (`[samples, all features]`, float) against
    /// labels `y` (`[samples]`, int64 in `0..classes`).
    pub fn fit(
        x: &Tensor,
        y: &Tensor,
        classes: i64,
        features: &[usize],
        config: &LogRegConfig,
    ) -> Result<LogReg, LogRegError> {
        let (samples, width) = dims(x)?;
        if y.size() != [samples] {
            return Err(LogRegError::Shape(format!(
                "{samples} samples but {:?} labels",
                y.size()
            )));
        }
        if let Some(&bad) = features.iter().find(|&&f| f as i64 >= width) {
            return Err(LogRegError::Shape(format!(
                "feature {bad} is past the {width} columns"
            )));
        }
        if features.is_empty() || samples == 0 {
            return Err(LogRegError::Shape(
                "a fit needs at least one feature and one sample".into(),
            ));
        }
        let _no_grad = tch::no_grad_guard();
        let columns = index(features);
        let x = x.to_kind(Kind::Float).index_select(1, &columns);
        let mean = x.mean_dim([0i64].as_slice(), true, Kind::Float);
        let std = x.std_dim([0i64].as_slice(), false, true).clamp_min(1e-6);
        let z = (&x - &mean) / &std;
        let onehot = y.one_hot(classes).to_kind(Kind::Float);
        let d = features.len() as i64;
        let mut weights = Tensor::zeros([d, classes], (Kind::Float, Device::Cpu));
        let mut bias = Tensor::zeros([classes], (Kind::Float, Device::Cpu));
        // FISTA: proximal gradient steps taken from an extrapolated point, which converges
        // far faster than plain ISTA on correlated features. A fit that stops early leans
        // on the few strongest directions, which is not what the experiment measures.
        let (mut look_w, mut look_b) = (weights.shallow_clone(), bias.shallow_clone());
        let mut t = 1.0f64;
        let n = samples as f64;
        let threshold = config.learning_rate * config.l1;
        for _ in 0..config.steps {
            let probabilities = (z.matmul(&look_w) + &look_b).softmax(-1, Kind::Float);
            let error = (&probabilities - &onehot) / n;
            let step_w = &look_w - z.transpose(0, 1).matmul(&error) * config.learning_rate;
            let next_b = &look_b
                - error.sum_dim_intlist([0i64].as_slice(), false, Kind::Float)
                    * config.learning_rate;
            // Soft thresholding: the proximal step of the ℓ1 penalty.
            let next_w = step_w.sign() * (step_w.abs() - threshold).clamp_min(0.0);
            let t_next = (1.0 + (1.0 + 4.0 * t * t).sqrt()) / 2.0;
            let momentum = (t - 1.0) / t_next;
            look_w = &next_w + (&next_w - &weights) * momentum;
            look_b = &next_b + (&next_b - &bias) * momentum;
            weights = next_w;
            bias = next_b;
            t = t_next;
        }
        Ok(LogReg {
            features: features.to_vec(),
            mean,
            std,
            weights,
            bias,
        })
    }

    /// Predicted classes of `x` (`[samples, all features]`).
    pub fn predict(&self, x: &Tensor) -> Tensor {
        let _no_grad = tch::no_grad_guard();
        let x = x
            .to_kind(Kind::Float)
            .index_select(1, &index(&self.features));
        let z = (x - &self.mean) / &self.std;
        (z.matmul(&self.weights) + &self.bias).argmax(-1, false)
    }

    /// Fraction of `x`'s samples predicted as `y` says.
    pub fn accuracy(&self, x: &Tensor, y: &Tensor) -> f64 {
        self.predict(x)
            .eq_tensor(y)
            .to_kind(Kind::Float)
            .mean(Kind::Float)
            .double_value(&[])
    }

    /// How much each feature weighs in the model (the ℓ2 norm of its weights over the
    /// classes), in the order of [`LogReg::features`].
    pub fn importance(&self) -> Vec<f64> {
        let norms = self
            .weights
            .square()
            .sum_dim_intlist([1i64].as_slice(), false, Kind::Float)
            .sqrt();
        Vec::<f32>::try_from(norms)
            .unwrap_or_default()
            .into_iter()
            .map(f64::from)
            .collect()
    }

    /// Features whose weights are not all zero.
    pub fn nonzero(&self) -> Vec<usize> {
        self.features
            .iter()
            .zip(self.importance())
            .filter(|(_, w)| *w > 0.0)
            .map(|(&f, _)| f)
            .collect()
    }

    /// The `k` features the model weighs most (ties by column), most important first.
    pub fn top(&self, k: usize) -> Vec<usize> {
        let mut ranked: Vec<(usize, f64)> = self
            .features
            .iter()
            .copied()
            .zip(self.importance())
            .collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        ranked.into_iter().take(k).map(|(f, _)| f).collect()
    }
}

fn dims(x: &Tensor) -> Result<(i64, i64), LogRegError> {
    match x.size().as_slice() {
        [samples, width] => Ok((*samples, *width)),
        other => Err(LogRegError::Shape(format!(
            "features must be [samples, features], not {other:?}"
        ))),
    }
}

fn index(features: &[usize]) -> Tensor {
    Tensor::from_slice(&features.iter().map(|&f| f as i64).collect::<Vec<_>>())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 600 samples of 20 features, 3 classes: the class shifts features 3 and 11 only.
    fn data(seed: i64) -> (Tensor, Tensor) {
        tch::manual_seed(seed);
        let y = Tensor::randint(3, [600], (Kind::Int64, Device::Cpu));
        let x = Tensor::randn([600, 20], (Kind::Float, Device::Cpu));
        let shift = y.to_kind(Kind::Float) * 2.0;
        let _ = x.select(1, 3).g_add_(&shift);
        let _ = x
            .select(1, 11)
            .g_sub_(&(shift * 0.5 - y.eq(0).to_kind(Kind::Float) * 3.0));
        (x, y)
    }

    #[test]
    fn l1_finds_the_informative_features_and_predicts_held_out_data() {
        let (x, y) = data(0);
        let all: Vec<usize> = (0..20).collect();
        let strong = LogRegConfig {
            l1: 0.05,
            ..LogRegConfig::default()
        };
        let model = LogReg::fit(&x, &y, 3, &all, &strong).unwrap_or_else(|e| panic!("{e}"));
        let mut top = model.top(2);
        top.sort();
        assert_eq!(top, [3, 11]);
        assert!(model.nonzero().len() <= 6, "{:?}", model.nonzero());
        let (x2, y2) = data(1);
        let accuracy = model.accuracy(&x2, &y2);
        assert!(accuracy > 0.8, "{accuracy}");
        // The two features alone do as well; two uninformative ones are at chance.
        let two = LogReg::fit(&x, &y, 3, &[3, 11], &LogRegConfig::default())
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(two.accuracy(&x2, &y2) > 0.8);
        let noise = LogReg::fit(&x, &y, 3, &[0, 1], &LogRegConfig::default())
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(noise.accuracy(&x2, &y2) < 0.45);
    }

    #[test]
    fn bad_shapes_are_named() {
        let (x, y) = data(0);
        let err = LogReg::fit(&x, &y, 3, &[25], &LogRegConfig::default())
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("feature 25 is past the 20 columns"), "{err}");
        let err = LogReg::fit(&x, &y.narrow(0, 0, 10), 3, &[1], &LogRegConfig::default())
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("600 samples"), "{err}");
    }
}
