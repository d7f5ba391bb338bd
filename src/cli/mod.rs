//! The command line: one file per subcommand; errors become one line and exit code 1.

pub mod backend_arg;
pub mod bench;
pub mod demo;
pub mod gradcheck;
pub mod info;
pub mod mel;
pub mod predict;
pub mod prepare;
pub mod run_dir;
pub mod step;
pub mod synth;
pub mod train;

use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "recaux",
    version,
    about = "LSTM genre classifier with a reconstruction auxiliary loss: λ sweeps as replicas, hand-written CUDA kernels, CPU reference"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Synthesise a small dataset, prepare it, train a λ sweep, print the table.
    Demo(demo::Args),
    /// Finite-difference gradient checks (f64) of every op and the whole model.
    Gradcheck(gradcheck::Args),
    /// One forward+backward step from PyTorch-named weights and an input (dropout off).
    Step(step::Args),
    /// Time a full training step (forward, backward, Adam).
    Bench(bench::Args),
    /// Version, embedded kernels and their resources, visible GPUs.
    Info(info::Args),
    /// Mel features of one audio file as .npy.
    Mel(mel::Args),
    /// Decode a dataset into a feature store.
    Prepare(prepare::Args),
    /// Write a synthetic FMA-shaped dataset.
    Synth(synth::Args),
    /// Train every (λ, seed) replica of a config jointly.
    Train(train::Args),
    /// Evaluate each replica's best weights of a run on a split.
    Eval(run_dir::EvalArgs),
    /// Write each replica's best weights as PyTorch state_dict safetensors.
    Export(run_dir::ExportArgs),
    /// Genre probabilities of audio files from a run's best weights.
    Predict(predict::Args),
}

/// Parse the arguments, run the command, print an error as one line.
pub fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let res = match cli.cmd {
        Cmd::Demo(a) => demo::run(a),
        Cmd::Gradcheck(a) => gradcheck::run(a),
        Cmd::Step(a) => step::run(a),
        Cmd::Bench(a) => bench::run(a),
        Cmd::Info(a) => info::run(a),
        Cmd::Mel(a) => mel::run(a),
        Cmd::Prepare(a) => prepare::run(a),
        Cmd::Synth(a) => synth::run(a),
        Cmd::Train(a) => train::run(a),
        Cmd::Eval(a) => run_dir::eval(a),
        Cmd::Export(a) => run_dir::export(a),
        Cmd::Predict(a) => predict::run(a),
    };
    match res {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            let chain: Vec<String> = e.chain().map(|c| c.to_string()).collect();
            eprintln!("error: {}", chain.join(": "));
            std::process::ExitCode::FAILURE
        }
    }
}
