//! The `recaux` command line; everything lives in `recaux::cli`.

fn main() -> std::process::ExitCode {
    recaux::cli::main()
}
