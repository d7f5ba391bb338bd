//! `recaux info` (not implemented yet).

/// Arguments of `recaux info`.
#[derive(clap::Args, Debug)]
pub struct Args {}

/// Run the command.
pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("`recaux info` is not implemented yet")
}
