//! `recaux prepare` (not implemented yet).

/// Arguments of `recaux prepare`.
#[derive(clap::Args, Debug)]
pub struct Args {}

/// Run the command.
pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("`recaux prepare` is not implemented yet")
}
