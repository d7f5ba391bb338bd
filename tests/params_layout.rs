//! The params structs' layout check (build/kernel_api.rs) catches a Rust mirror that does
//! not match its kernel's struct, field by field.
//!
//! build.rs generates each Rust mirror from the .cu and emits two sets of assertions from
//! the mirror's layout: C++ `static_assert`s (every field's offset and size, every struct's
//! size; compiled after the kernels by g++ for emu and by nvcc for the fatbin) and Rust const
//! assertions (the same numbers against rustc's `offset_of!`/`size_of`). A normal build
//! passes them all. These tests feed the same machinery a deliberately wrong mirror of
//! max_time.cu's `MaxTimeFwdP` (fields `t` and `rows` swapped: both i64, so the total size
//! still matches, which is all the old check compared) and show each compiler refuses it,
//! naming the field.

#[path = "../build/kernel_api.rs"]
mod kernel_api;

#[path = "common/skip.rs"]
mod skip;

use kernel_api::{CuFile, Struct};
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// kernels/max_time.cu as build.rs parses it.
fn max_time() -> CuFile {
    let read = |p: &str| std::fs::read_to_string(root().join(p)).unwrap();
    let defines = kernel_api::int_defines(&read("kernels/common.cuh"));
    kernel_api::parse("max_time", &read("kernels/max_time.cu"), &defines).unwrap()
}

fn fwd_params(f: &CuFile) -> Struct {
    f.structs
        .iter()
        .find(|s| s.name == "MaxTimeFwdP")
        .unwrap()
        .clone()
}

/// The mirror with fields `a` and `b` swapped.
fn swapped(s: &Struct, a: &str, b: &str) -> Struct {
    let mut w = s.clone();
    let i = w.fields.iter().position(|f| f.name == a).unwrap();
    let j = w.fields.iter().position(|f| f.name == b).unwrap();
    w.fields.swap(i, j);
    w
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("recaux-layout-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Compile kernels/max_time.cu followed by the layout checks of `mirror` with `cxx`; returns
/// (success, compiler output).
fn compile_cpp(cxx: &str, args: &[&str], emu: bool, mirror: &Struct, tag: &str) -> (bool, String) {
    let dir = scratch(tag);
    let header = dir.join("layout.h");
    std::fs::write(
        &header,
        kernel_api::cpp_asserts(std::slice::from_ref(mirror)).unwrap(),
    )
    .unwrap();
    let ext = if emu { "cpp" } else { "cu" };
    let tu = dir.join(format!("tu.{ext}"));
    let prelude = if emu { "#define RECAUX_EMU 1\n" } else { "" };
    std::fs::write(
        &tu,
        format!(
            "{prelude}#include \"{}\"\n#include \"{}\"\n",
            root().join("kernels/max_time.cu").display(),
            header.display()
        ),
    )
    .unwrap();
    let out = Command::new(cxx)
        .args(args)
        .arg("-std=c++17")
        .arg("-I")
        .arg(root().join("kernels"))
        .arg(&tu)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cxx}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn a_swapped_params_field_stops_the_emu_build() {
    let s = fwd_params(&max_time());
    let (ok, text) = compile_cpp("c++", &["-fsyntax-only"], true, &s, "emu-good");
    assert!(ok, "the true mirror must compile:\n{text}");
    let bad = swapped(&s, "t", "rows");
    assert_eq!(
        kernel_api::layout(&bad).unwrap().size,
        kernel_api::layout(&s).unwrap().size,
        "the swap keeps the struct's size: a size check alone cannot see it"
    );
    let (ok, text) = compile_cpp("c++", &["-fsyntax-only"], true, &bad, "emu-bad");
    assert!(!ok, "a mirror with t and rows swapped compiled");
    for want in [
        "MaxTimeFwdP<float>.t: the Rust mirror has it at offset 32",
        "MaxTimeFwdP<float>.rows: the Rust mirror has it at offset 24",
    ] {
        assert!(text.contains(want), "missing `{want}` in:\n{text}");
    }
}

#[test]
fn a_swapped_params_field_stops_the_nvcc_build() {
    let nvcc = env!("RECAUX_NVCC");
    if nvcc.is_empty() {
        skip::skip_notice("SKIP nvcc layout check: this build found no nvcc");
        return;
    }
    let bad = swapped(&fwd_params(&max_time()), "t", "rows");
    let out = scratch("nvcc-bad").join("tu.o");
    let args = ["-c", "-arch=sm_80", "-o", out.to_str().unwrap()];
    let (ok, text) = compile_cpp(nvcc, &args, false, &bad, "nvcc-bad");
    assert!(!ok, "nvcc compiled a mirror with t and rows swapped");
    assert!(
        text.contains("MaxTimeFwdP<float>.t: the Rust mirror has it at offset 32"),
        "nvcc failed, but not on the layout check:\n{text}"
    );
    // The true mirror's checks are compiled by nvcc in every build of the fatbin.
}

#[test]
fn generated_rust_asserts_its_own_layout() {
    // The generated module, with the struct's field lines swapped by hand as a hand-edit or a
    // generator emitting another order would: rustc's layout no longer matches the asserted
    // offsets, and the crate does not compile.
    let mut f = max_time();
    f.kernels.clear();
    f.structs.retain(|s| s.name == "MaxTimeFwdP");
    let good = kernel_api::rust_module(&f).unwrap().replace(
        "#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]\n",
        "",
    );
    let compile = |code: &str, tag: &str| {
        let dir = scratch(tag);
        let src = dir.join("lib.rs");
        std::fs::write(&src, code).unwrap();
        let out = Command::new("rustc")
            .args([
                "--crate-type=lib",
                "--edition=2024",
                "--crate-name=mirror",
                "-o",
            ])
            .arg(dir.join("libmirror.rlib"))
            .arg(&src)
            .output()
            .expect("rustc on PATH");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (ok, text) = compile(&good, "rust-good");
    assert!(ok, "the generated mirror must compile:\n{text}");
    let (t, rows) = ("    pub t: i64,\n", "    pub rows: i64,\n");
    assert!(good.contains(t) && good.contains(rows));
    let bad = good.replace(t, "@T@").replace(rows, t).replace("@T@", rows);
    let (ok, text) = compile(&bad, "rust-bad");
    assert!(!ok, "rustc accepted a mirror with t and rows swapped");
    assert!(
        text.contains("offset_of!(MaxTimeFwdP, t) == 24"),
        "rustc failed, but not on the layout assertion:\n{text}"
    );
}
