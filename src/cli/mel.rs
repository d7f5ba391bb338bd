//! `recaux mel` (not implemented yet).

/// Arguments of `recaux mel`.
#[derive(clap::Args, Debug)]
pub struct Args {}

/// Run the command.
pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("`recaux mel` is not implemented yet")
}
