//! Adam state (first and second moments of every parameter of every replica) and its step.

use crate::backend::{AdamSpec, AdamTensor, Backend};
use crate::error::{Error, Result};
use crate::model::{Grads, Model};

/// Adam hyper-parameters (PyTorch defaults).
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdamConfig {
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
}

impl Default for AdamConfig {
    fn default() -> Self {
        AdamConfig {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
        }
    }
}

/// Moments `[M, numel]` per parameter and the step count.
pub struct Adam<B: Backend> {
    pub cfg: AdamConfig,
    pub m: Vec<B::Buf>,
    pub v: Vec<B::Buf>,
    /// Updates applied so far.
    pub step: u64,
}

impl<B: Backend> Adam<B> {
    /// Zero moments for `model`.
    pub fn new(be: &B, model: &Model<B>, cfg: AdamConfig) -> Result<Self> {
        let zeros = || {
            model
                .params
                .iter()
                .map(|p| be.alloc(be.len(p)))
                .collect::<Result<Vec<_>>>()
        };
        Ok(Adam {
            cfg,
            m: zeros()?,
            v: zeros()?,
            step: 0,
        })
    }

    /// One update of every parameter of every replica; `lr[r]` is replica r's learning rate.
    pub fn update(
        &mut self,
        be: &B,
        model: &mut Model<B>,
        grads: &Grads<B>,
        lr: &[f64],
    ) -> Result<()> {
        if lr.len() != model.m() {
            return Err(Error::shape(format!(
                "{} learning rates for {} replicas",
                lr.len(),
                model.m()
            )));
        }
        self.step += 1;
        let spec = AdamSpec {
            lr,
            beta1: self.cfg.beta1,
            beta2: self.cfg.beta2,
            eps: self.cfg.eps,
            step: self.step,
            vals: None,
            table: None,
        };
        let mut tensors: Vec<AdamTensor<B>> = model
            .params
            .iter_mut()
            .zip(&grads.bufs)
            .zip(self.m.iter_mut().zip(self.v.iter_mut()))
            .map(|((param, grad), (m, v))| AdamTensor { param, grad, m, v })
            .collect();
        be.adam(&spec, &mut tensors)
    }
}
