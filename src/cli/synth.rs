//! `recaux synth` (not implemented yet).

/// Arguments of `recaux synth`.
#[derive(clap::Args, Debug)]
pub struct Args {}

/// Run the command.
pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("`recaux synth` is not implemented yet")
}
