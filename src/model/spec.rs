//! The model spec: widths and dropout, and the parameter list with PyTorch's state_dict names,
//! shapes and init bounds.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

/// Widths of the seed's AudioClassifier (REFERENCE.md), generalised: the seed ties
/// `hidden = fc1 = features = 128`; tests use small, unequal widths to catch transposes.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModelSpec {
    /// Input features per frame F (mel bands).
    pub features: usize,
    /// LSTM hidden units per direction H (both layers).
    pub hidden: usize,
    /// fc1 output width D.
    pub fc1: usize,
    /// Classes C.
    pub classes: usize,
    /// Dropout probability at all four sites.
    pub dropout: f64,
}

impl Default for ModelSpec {
    fn default() -> Self {
        ModelSpec::seed()
    }
}

/// One parameter tensor of the model (per replica).
#[derive(Clone, Debug, PartialEq)]
pub struct ParamSpec {
    /// PyTorch state_dict name, e.g. `lstm1.weight_ih_l0_reverse`.
    pub name: String,
    /// PyTorch shape, e.g. `[4H, F]`.
    pub shape: Vec<usize>,
    /// PyTorch's default init is uniform(-bound, bound).
    pub bound: f64,
}

impl ParamSpec {
    /// Elements per replica.
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }
}

/// Indices into [`ModelSpec::params`], in state_dict order.
pub mod p {
    /// `lstm{1,2}.{weight_ih, weight_hh, bias_ih, bias_hh}_l0{,_reverse}`: layer L (0/1),
    /// direction d (0/1), kind k (0..4) is at `L*8 + d*4 + k`.
    pub const fn lstm(layer: usize, dir: usize, kind: usize) -> usize {
        layer * 8 + dir * 4 + kind
    }
    pub const FC1_W: usize = 16;
    pub const FC1_B: usize = 17;
    pub const FY_W: usize = 18;
    pub const FY_B: usize = 19;
    pub const FC2_W: usize = 20;
    pub const FC2_B: usize = 21;
    pub const COUNT: usize = 22;
}

impl ModelSpec {
    /// The seed's model: 128 mel bands, hidden 128, fc1 128, 8 genres, dropout 0.3.
    pub fn seed() -> Self {
        ModelSpec {
            features: 128,
            hidden: 128,
            fc1: 128,
            classes: 8,
            dropout: 0.3,
        }
    }

    /// Reject zero widths, widths above [`crate::limits::MAX_WIDTH`] and dropout outside
    /// [0, 1).
    pub fn validate(&self) -> Result<()> {
        for (name, v) in [
            ("features", self.features),
            ("hidden", self.hidden),
            ("fc1", self.fc1),
            ("classes", self.classes),
        ] {
            if v == 0 {
                return Err(Error::config(format!("model.{name}"), "must be at least 1"));
            }
            crate::limits::at_most(&format!("model.{name}"), v, crate::limits::MAX_WIDTH)?;
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(Error::config("model.dropout", "must be in [0, 1)"));
        }
        Ok(())
    }

    /// Every parameter in PyTorch's state_dict order (lstm1, lstm2, fc1, fy, fc2).
    pub fn params(&self) -> Vec<ParamSpec> {
        let (f, h, d, c) = (self.features, self.hidden, self.fc1, self.classes);
        let mut out = Vec::with_capacity(p::COUNT);
        let lstm_bound = 1.0 / (h as f64).sqrt();
        for (layer, input) in [(1, f), (2, 2 * h)] {
            for suffix in ["", "_reverse"] {
                for (kind, shape) in [
                    ("weight_ih", vec![4 * h, input]),
                    ("weight_hh", vec![4 * h, h]),
                    ("bias_ih", vec![4 * h]),
                    ("bias_hh", vec![4 * h]),
                ] {
                    out.push(ParamSpec {
                        name: format!("lstm{layer}.{kind}_l0{suffix}"),
                        shape,
                        bound: lstm_bound,
                    });
                }
            }
        }
        for (name, out_f, in_f) in [("fc1", d, 2 * h), ("fy", c, d), ("fc2", f, 2 * h)] {
            let bound = 1.0 / (in_f as f64).sqrt();
            out.push(ParamSpec {
                name: format!("{name}.weight"),
                shape: vec![out_f, in_f],
                bound,
            });
            out.push(ParamSpec {
                name: format!("{name}.bias"),
                shape: vec![out_f],
                bound,
            });
        }
        debug_assert_eq!(out.len(), p::COUNT);
        out
    }

    /// Parameters per replica.
    pub fn n_params(&self) -> usize {
        self.params().iter().map(|p| p.numel()).sum()
    }

    /// Infer the widths from PyTorch parameter shapes (name -> shape), checking every
    /// tensor; `dropout` is taken as given.
    pub fn from_shapes(shapes: &dyn Fn(&str) -> Option<Vec<usize>>, dropout: f64) -> Result<Self> {
        let get =
            |n: &str| shapes(n).ok_or_else(|| Error::tensor(n, "missing from the weights file"));
        // each tensor the widths are read from is checked on its own, so the error names it
        let matrix = |n: &str, want: &str| -> Result<Vec<usize>> {
            let s = get(n)?;
            if s.len() != 2 {
                return Err(Error::tensor(
                    n,
                    format!("shape {s:?} has rank {}, expected {want}", s.len()),
                ));
            }
            Ok(s)
        };
        let w1 = matrix("lstm1.weight_ih_l0", "[4H, F]")?;
        if w1[0] % 4 != 0 {
            return Err(Error::tensor(
                "lstm1.weight_ih_l0",
                format!("shape {w1:?}: the first dimension is not 4H"),
            ));
        }
        let fc1 = matrix("fc1.weight", "[D, 2H]")?;
        let fy = matrix("fy.weight", "[C, D]")?;
        let spec = ModelSpec {
            features: w1[1],
            hidden: w1[0] / 4,
            fc1: fc1[0],
            classes: fy[0],
            dropout,
        };
        spec.validate().map_err(|e| {
            Error::tensor(
                "lstm1.weight_ih_l0, fc1.weight, fy.weight",
                format!("the widths they give are refused: {e}"),
            )
        })?;
        for ps in spec.params() {
            let got = get(&ps.name)?;
            if got != ps.shape {
                return Err(Error::tensor(
                    &ps.name,
                    format!("shape {got:?}, expected {:?} for {spec:?}", ps.shape),
                ));
            }
        }
        Ok(spec)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_model_has_726280_parameters() {
        // REFERENCE.md: "Model (726,280 parameters)"
        assert_eq!(ModelSpec::seed().n_params(), 726_280);
    }

    #[test]
    fn names_follow_state_dict_order() {
        let names: Vec<String> = ModelSpec::seed()
            .params()
            .into_iter()
            .map(|p| p.name)
            .collect();
        assert_eq!(names[0], "lstm1.weight_ih_l0");
        assert_eq!(names[p::lstm(0, 1, 3)], "lstm1.bias_hh_l0_reverse");
        assert_eq!(names[p::lstm(1, 0, 1)], "lstm2.weight_hh_l0");
        assert_eq!(names[p::FC1_W], "fc1.weight");
        assert_eq!(names[p::FY_B], "fy.bias");
        assert_eq!(names[p::FC2_B], "fc2.bias");
    }
}
