//! `recaux step`: one forward+backward step (dropout off) from PyTorch-named weights.

use super::backend_arg::BackendChoice;
use crate::interop;
use crate::safetensors_io::TensorFile;
use anyhow::Context;
use std::path::PathBuf;

/// Arguments of `recaux step`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Weights under PyTorch state_dict names (`save_file(model.state_dict(), ...)`).
    #[arg(long)]
    pub weights: PathBuf,
    /// Input tensors: `x` [B, T, F] float32 and `y` [B] int64.
    #[arg(long)]
    pub input: PathBuf,
    /// Weight λ of the L1 reconstruction loss.
    #[arg(long = "lambda", default_value_t = 1.0)]
    pub lambda: f64,
    /// Output safetensors file.
    #[arg(long)]
    pub out: PathBuf,
    /// Compute precision: f32 (weights and x must be float32) or f64 (float32 or float64 accepted).
    #[arg(long, default_value = "f32", value_parser = ["f32", "f64"])]
    pub dtype: String,
    #[arg(long, value_enum, default_value = "cpu")]
    pub backend: BackendChoice,
    /// Arithmetic of the ops with `--dtype f32` (README "Precision"): auto is the backend's
    /// default (bf16 on cuda and emu, f32 on the CPU); `--dtype f64` runs f64.
    #[arg(long, value_enum, default_value = "auto")]
    pub precision: crate::backend::Precision,
}

/// Run the command.
pub fn run(args: Args) -> anyhow::Result<()> {
    if !args.lambda.is_finite() || args.lambda < 0.0 {
        anyhow::bail!("--lambda must be a finite number >= 0, got {}", args.lambda);
    }
    let f32_only = args.dtype == "f32";
    let wf = TensorFile::open(&args.weights)?;
    let (spec, weights) =
        interop::load_weights(&wf, f32_only).with_context(|| args.weights.display().to_string())?;
    let inf = TensorFile::open(&args.input)?;
    let batch = interop::load_batch(&inf, &spec, f32_only)
        .with_context(|| args.input.display().to_string())?;
    let (b, t) = (batch.b, batch.t);
    let loss = if f32_only {
        crate::with_backend!(args.backend, f32, |be| {
            let q = crate::backend::Backend::set_precision(&be, args.precision)
                .context("--precision")?;
            eprintln!("precision {q} on {}", crate::backend::Backend::name(&be));
            let out = interop::step(&be, spec, &weights, &batch, args.lambda)?;
            interop::step_writer(&spec, b, t, &out).write(&args.out)?;
            (out.loss, out.loss_ce, out.loss_l1)
        })
    } else {
        crate::with_backend!(args.backend, f64, |be| {
            crate::backend::Backend::set_precision(&be, args.precision).context("--precision")?;
            let out = interop::step(&be, spec, &weights, &batch, args.lambda)?;
            interop::step_writer(&spec, b, t, &out).write(&args.out)?;
            (out.loss, out.loss_ce, out.loss_l1)
        })
    };
    println!(
        "B={b} T={t} F={} H={} C={}: loss {:.6} (ce {:.6}, l1 {:.6}, λ {}) -> {}",
        spec.features,
        spec.hidden,
        spec.classes,
        loss.0,
        loss.1,
        loss.2,
        args.lambda,
        args.out.display()
    );
    Ok(())
}
