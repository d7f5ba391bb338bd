//! `recaux step` (not implemented yet).

/// Arguments of `recaux step`.
#[derive(clap::Args, Debug)]
pub struct Args {}

/// Run the command.
pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("`recaux step` is not implemented yet")
}
