//! `recaux gradcheck` (not implemented yet).

/// Arguments of `recaux gradcheck`.
#[derive(clap::Args, Debug)]
pub struct Args {}

/// Run the command.
pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("`recaux gradcheck` is not implemented yet")
}
