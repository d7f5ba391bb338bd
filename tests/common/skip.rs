//! Skip notices for GPU tests.

/// Print a skip notice straight to the terminal: libtest captures `println!` of passing
/// tests, and a skipped GPU check must say that it skipped and why.
pub fn skip_notice(msg: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{msg}");
}
