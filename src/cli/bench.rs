//! `recaux bench` (not implemented yet).

/// Arguments of `recaux bench`.
#[derive(clap::Args, Debug)]
pub struct Args {}

/// Run the command.
pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("`recaux bench` is not implemented yet")
}
