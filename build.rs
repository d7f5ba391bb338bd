//! Build script: generates the kernels' host interface, then compiles kernels/*.cu twice.
//!
//! 0. From the params structs and RECAUX_KERNEL lines of kernels/*.cu (build/kernel_api.rs):
//!    the Rust mirrors and typed kernel handles (OUT_DIR/kernel_api/<op>.rs, included by
//!    src/backend/kernel/<op>.rs), the kernel table (OUT_DIR/kernel_api/table.rs), and
//!    `params_layout.h`: static_asserts of every field's offset and size as the Rust mirror
//!    has them, compiled after the kernels by both compilers below.
//! 1. With nvcc (when found) into ONE fatbin: SASS for each architecture in
//!    `RECAUX_CUDA_ARCHS` (default 80,86,89,90) and PTX for the newest, combined by `fatbinary`.
//!    ptxas's resource report (registers, shared memory, stack, spills, local memory per kernel
//!    per arch) is parsed into a table. Both land in OUT_DIR and are embedded by
//!    `src/backend/cuda/embedded.rs`. Without nvcc the build still succeeds (a cargo warning) and
//!    the binary says what is missing.
//! 2. With the C++ compiler (the `cc` crate) into the `emu` static library: the same kernels
//!    against kernels/emu/shim.h, plus the host launcher (kernels/emu/runtime.h).
//!    `RECAUX_EMU_SANITIZE=thread|address` instruments it (and adds the deliberately broken
//!    kernels of kernels/buggy/ that the sanitizer self-test needs).

#[path = "build/kernel_api.rs"]
mod kernel_api;

use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

const DEFAULT_ARCHS: &[u32] = &[80, 86, 89, 90];

fn main() {
    let root =
        PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let out = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    let kdir = root.join("kernels");
    for v in [
        "NVCC",
        "CUDA_HOME",
        "CUDA_PATH",
        "PATH",
        "RECAUX_CUDA_ARCHS",
        "RECAUX_NO_NVCC",
        "RECAUX_EMU_SANITIZE",
    ] {
        println!("cargo:rerun-if-env-changed={v}");
    }
    println!("cargo:rerun-if-changed={}", kdir.display());
    println!("cargo:rerun-if-changed={}", root.join("build").display());
    println!(
        "cargo:rerun-if-changed={}",
        root.join("build/kernel_api.rs").display()
    );
    let kernels = list(&kdir, "cu");
    let buggy = list(&kdir.join("buggy"), "cu");
    let mut watched = kernels.clone();
    watched.extend(buggy.iter().cloned());
    watched.extend(list(&kdir, "cuh"));
    watched.extend(list(&kdir.join("emu"), "h"));
    for f in &watched {
        println!("cargo:rerun-if-changed={}", f.display());
    }

    let layout_h = generate_api(&out, &kdir, &kernels);
    build_fatbin(&root, &out, &kdir, &kernels, &layout_h);
    build_emu(&out, &kdir, &kernels, &buggy, &layout_h);
}

/// Step 0: the Rust side of every kernel and the C++ layout checks; returns the header's path.
fn generate_api(out: &Path, kdir: &Path, kernels: &[PathBuf]) -> PathBuf {
    let read = |p: &Path| {
        fs::read_to_string(p).unwrap_or_else(|e| fail(&format!("cannot read {}: {e}", p.display())))
    };
    let defines = kernel_api::int_defines(&read(&kdir.join("common.cuh")));
    let mut files = Vec::new();
    for k in kernels {
        let stem = k
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_else(|| fail(&format!("{}: file name is not UTF-8", k.display())));
        files.push(kernel_api::parse(stem, &read(k), &defines).unwrap_or_else(|e| fail(&e)));
    }
    let dir = out.join("kernel_api");
    fs::create_dir_all(&dir)
        .unwrap_or_else(|e| fail(&format!("cannot create {}: {e}", dir.display())));
    let write = |p: PathBuf, text: String| {
        fs::write(&p, text).unwrap_or_else(|e| fail(&format!("cannot write {}: {e}", p.display())))
    };
    for f in &files {
        let code = kernel_api::rust_module(f).unwrap_or_else(|e| fail(&e));
        write(dir.join(format!("{}.rs", f.stem)), code);
    }
    let max_rep = defines
        .get("RX_MAX_REPLICAS")
        .unwrap_or_else(|| fail("kernels/common.cuh: no #define RX_MAX_REPLICAS"));
    let mut table = kernel_api::rust_table(&files).unwrap_or_else(|e| fail(&e));
    table.push_str(&format!(
        "\n/// `RX_MAX_REPLICAS` of kernels/common.cuh.\npub const RX_MAX_REPLICAS: usize = {max_rep};\n"
    ));
    write(dir.join("table.rs"), table);
    let structs: Vec<kernel_api::Struct> = files
        .iter()
        .flat_map(|f| f.structs.iter().cloned())
        .collect();
    let header = out.join("params_layout.h");
    write(
        header.clone(),
        kernel_api::cpp_asserts(&structs).unwrap_or_else(|e| fail(&e)),
    );
    header
}

/// Files in `dir` ending in `.ext`, sorted.
fn list(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|e| e == ext))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// One translation unit that includes every kernel file (so one module holds all kernels),
/// then the layout checks of their params structs.
fn write_all_tu(path: &Path, prelude: &str, files: &[PathBuf], layout_h: &Path) {
    let mut s = String::from("// generated by build.rs\n");
    s.push_str(prelude);
    for f in files {
        s.push_str(&format!("#include \"{}\"\n", f.display()));
    }
    s.push_str(&format!("#include \"{}\"\n", layout_h.display()));
    fs::write(path, s).unwrap_or_else(|e| fail(&format!("cannot write {}: {e}", path.display())));
}

fn fail(msg: &str) -> ! {
    eprintln!("error: {msg}");
    std::process::exit(1);
}

// ---- nvcc ----------------------------------------------------------------------------------

/// Where nvcc is, in the documented order, or why it was not found.
fn find_nvcc(root: &Path) -> Result<PathBuf, String> {
    if env::var_os("RECAUX_NO_NVCC").is_some() {
        return Err("RECAUX_NO_NVCC is set".into());
    }
    if let Some(p) = env::var_os("NVCC") {
        let p = PathBuf::from(p);
        return if p.is_file() {
            Ok(p)
        } else {
            Err(format!("NVCC={} is not a file", p.display()))
        };
    }
    let mut cands: Vec<PathBuf> = Vec::new();
    for v in ["CUDA_HOME", "CUDA_PATH"] {
        if let Some(h) = env::var_os(v) {
            cands.push(PathBuf::from(h).join("bin/nvcc"));
        }
    }
    if let Some(path) = env::var_os("PATH") {
        cands.extend(env::split_paths(&path).map(|d| d.join("nvcc")));
    }
    cands.push(PathBuf::from("/usr/local/cuda/bin/nvcc"));
    if let Ok(rd) = fs::read_dir(root.join(".cuda/lib")) {
        for e in rd.flatten() {
            cands.push(e.path().join("site-packages/nvidia/cu13/bin/nvcc"));
        }
    }
    cands.into_iter().find(|p| p.is_file()).ok_or_else(|| {
        "nvcc not found (looked at $NVCC, $CUDA_HOME/bin, $CUDA_PATH/bin, PATH, /usr/local/cuda/bin, \
         .cuda/ from scripts/install-nvcc.sh)"
            .into()
    })
}

fn archs() -> Vec<u32> {
    let Ok(s) = env::var("RECAUX_CUDA_ARCHS") else {
        return DEFAULT_ARCHS.to_vec();
    };
    let mut v: Vec<u32> = s
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|t| !t.is_empty())
        .map(|t| {
            t.trim_start_matches("sm_").parse().unwrap_or_else(|_| {
                fail(&format!(
                    "RECAUX_CUDA_ARCHS: `{t}` is not an arch like 80 or sm_80"
                ))
            })
        })
        .collect();
    v.sort();
    v.dedup();
    if v.is_empty() {
        fail("RECAUX_CUDA_ARCHS is empty");
    }
    v
}

fn build_fatbin(root: &Path, out: &Path, kdir: &Path, kernels: &[PathBuf], layout_h: &Path) {
    let fatbin = out.join("kernels.fatbin");
    let report = out.join("kernels_resources.tsv");
    let nvcc = match find_nvcc(root) {
        Ok(p) => p,
        Err(why) => {
            println!(
                "cargo:warning=CUDA kernels not built: {why}. The cpu and emu backends work; for \
                 cuda run `bash scripts/install-nvcc.sh` and rebuild."
            );
            let _ = fs::write(&fatbin, b"");
            let _ = fs::write(&report, b"");
            println!("cargo:rustc-env=RECAUX_KERNELS_STATUS=not built: {why}");
            println!("cargo:rustc-env=RECAUX_CUDA_ARCHS_BUILT=");
            println!("cargo:rustc-env=RECAUX_NVCC=");
            return;
        }
    };
    let archs = archs();
    let newest = *archs.last().expect("archs is non-empty");
    let tu = out.join("recaux_kernels.cu");
    write_all_tu(&tu, "", kernels, layout_h);

    // One nvcc process per SASS arch plus one for the PTX, in parallel (CI has 2 cores).
    let mut jobs: Vec<(String, Vec<String>, PathBuf)> = Vec::new();
    for &a in &archs {
        let o = out.join(format!("kernels.sm_{a}.cubin"));
        jobs.push((
            format!("sm_{a}"),
            vec![
                "-cubin".into(),
                format!("-arch=sm_{a}"),
                "-Xptxas".into(),
                "-v".into(),
            ],
            o,
        ));
    }
    let ptx = out.join(format!("kernels.compute_{newest}.ptx"));
    jobs.push((
        format!("compute_{newest}"),
        vec!["-ptx".into(), format!("-arch=compute_{newest}")],
        ptx.clone(),
    ));
    let par = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2);
    let mut outputs: Vec<(String, String)> = Vec::new();
    for chunk in jobs.chunks(par.max(1)) {
        let handles: Vec<_> = chunk
            .iter()
            .cloned()
            .map(|(label, args, o)| {
                let nvcc = nvcc.clone();
                let tu = tu.clone();
                let kdir = kdir.to_path_buf();
                std::thread::spawn(move || {
                    let res = Command::new(&nvcc)
                        .args(&args)
                        .args(["-std=c++17", "-O3", "-I"])
                        .arg(&kdir)
                        .arg(&tu)
                        .arg("-o")
                        .arg(&o)
                        .output();
                    (label, res)
                })
            })
            .collect();
        for h in handles {
            let (label, res) = h
                .join()
                .unwrap_or_else(|_| fail("nvcc worker thread panicked"));
            let res = res.unwrap_or_else(|e| fail(&format!("cannot run {}: {e}", nvcc.display())));
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&res.stdout),
                String::from_utf8_lossy(&res.stderr)
            );
            if !res.status.success() {
                let culprits: Vec<String> = kernels
                    .iter()
                    .filter(|k| text.contains(&*k.to_string_lossy()))
                    .map(|k| k.display().to_string())
                    .collect();
                fail(&format!(
                    "nvcc failed compiling kernels for {label} in {}\n--- nvcc output ---\n{text}",
                    if culprits.is_empty() {
                        "kernels/*.cu".to_string()
                    } else {
                        culprits.join(", ")
                    }
                ));
            }
            outputs.push((label, text));
        }
    }

    let fatbinary = nvcc.with_file_name("fatbinary");
    let mut cmd = Command::new(&fatbinary);
    cmd.arg(format!("--create={}", fatbin.display())).arg("-64");
    for &a in &archs {
        cmd.arg(format!(
            "--image3=kind=elf,sm={a},file={}",
            out.join(format!("kernels.sm_{a}.cubin")).display()
        ));
    }
    cmd.arg(format!(
        "--image3=kind=ptx,sm={newest},file={}",
        ptx.display()
    ));
    let res = cmd
        .output()
        .unwrap_or_else(|e| fail(&format!("cannot run {}: {e}", fatbinary.display())));
    if !res.status.success() {
        fail(&format!(
            "fatbinary failed:\n{}{}",
            String::from_utf8_lossy(&res.stdout),
            String::from_utf8_lossy(&res.stderr)
        ));
    }

    let mut tsv = String::from(
        "arch\tkernel\tregisters\tshared_bytes\tstack_bytes\tspill_stores\tspill_loads\tlocal_bytes\n",
    );
    for (label, text) in &outputs {
        if label.starts_with("sm_") {
            tsv.push_str(&parse_ptxas(text));
        }
    }
    fs::write(&report, tsv)
        .unwrap_or_else(|e| fail(&format!("cannot write {}: {e}", report.display())));
    let list: Vec<String> = archs.iter().map(|a| format!("sm_{a}")).collect();
    println!(
        "cargo:rustc-env=RECAUX_KERNELS_STATUS=embedded: SASS {} + PTX compute_{newest} ({})",
        list.join(" "),
        nvcc.display()
    );
    println!("cargo:rustc-env=RECAUX_CUDA_ARCHS_BUILT={}", list.join(","));
    // The nvcc that compiled the kernels (tests/params_layout.rs compiles with it too).
    println!("cargo:rustc-env=RECAUX_NVCC={}", nvcc.display());
}

/// The number before `what` in a ptxas line such as "Used 12 registers, 256 bytes smem".
fn num_before(line: &str, what: &str) -> Option<u64> {
    let i = line.find(what)?;
    line[..i].split_whitespace().last()?.parse().ok()
}

/// ptxas -v output of one arch -> TSV rows `arch kernel regs smem stack spill_st spill_ld lmem`.
fn parse_ptxas(text: &str) -> String {
    #[derive(Default, Clone)]
    struct K {
        arch: String,
        regs: u64,
        smem: u64,
        stack: u64,
        st: u64,
        ld: u64,
        lmem: u64,
    }
    let mut order: Vec<String> = Vec::new();
    let mut ks: std::collections::HashMap<String, K> = Default::default();
    let mut entry: Option<String> = None; // the entry function the "Used" line belongs to
    let mut props: Option<String> = None; // the function the stack/spill line belongs to
    for line in text.lines() {
        if let Some(rest) = line.split("Compiling entry function '").nth(1) {
            let name = rest.split('\'').next().unwrap_or("").to_string();
            let arch = rest
                .split("for '")
                .nth(1)
                .and_then(|s| s.split('\'').next())
                .unwrap_or("")
                .to_string();
            if !ks.contains_key(&name) {
                order.push(name.clone());
            }
            ks.insert(
                name.clone(),
                K {
                    arch,
                    ..Default::default()
                },
            );
            entry = Some(name);
        } else if let Some(rest) = line.split("Function properties for ").nth(1) {
            props = Some(rest.trim().to_string());
        } else if line.contains("bytes stack frame")
            && let Some(k) = props.as_ref().and_then(|n| ks.get_mut(n))
        {
            k.stack = num_before(line, "bytes stack frame").unwrap_or(0);
            k.st = num_before(line, "bytes spill stores").unwrap_or(0);
            k.ld = num_before(line, "bytes spill loads").unwrap_or(0);
        } else if line.contains("Used ")
            && line.contains("registers")
            && let Some(k) = entry.as_ref().and_then(|n| ks.get_mut(n))
        {
            k.regs = num_before(line, "registers").unwrap_or(0);
            k.smem = num_before(line, "bytes smem").unwrap_or(0);
            k.lmem = num_before(line, "bytes lmem").unwrap_or(0);
        }
    }
    let mut s = String::new();
    for n in order {
        let k = &ks[&n];
        s.push_str(&format!(
            "{}\t{n}\t{}\t{}\t{}\t{}\t{}\t{}\n",
            k.arch, k.regs, k.smem, k.stack, k.st, k.ld, k.lmem
        ));
    }
    s
}

// ---- emu -----------------------------------------------------------------------------------

fn build_emu(out: &Path, kdir: &Path, kernels: &[PathBuf], buggy: &[PathBuf], layout_h: &Path) {
    let sanitize = env::var("RECAUX_EMU_SANITIZE").unwrap_or_default();
    let mut files = kernels.to_vec();
    match sanitize.as_str() {
        "" => {}
        "thread" | "address" => files.extend(buggy.iter().cloned()),
        other => fail(&format!(
            "RECAUX_EMU_SANITIZE={other}: expected `thread` or `address`"
        )),
    }
    let tu = out.join("recaux_emu_all.cpp");
    write_all_tu(&tu, "#define RECAUX_EMU 1\n", &files, layout_h);
    let mut b = cc::Build::new();
    b.cpp(true)
        .file(&tu)
        .include(kdir)
        .std("c++17")
        .flag_if_supported("-Wno-unknown-pragmas")
        .flag("-pthread");
    if sanitize.is_empty() {
        b.opt_level(2);
    } else {
        b.opt_level(1)
            .debug(true)
            .flag(format!("-fsanitize={sanitize}"))
            .flag("-fno-omit-frame-pointer");
        let lib = if sanitize == "thread" { "tsan" } else { "asan" };
        println!("cargo:rustc-link-lib=dylib={lib}");
    }
    b.compile("recaux_emu");
    let flavour = if sanitize.is_empty() {
        "plain".to_string()
    } else {
        format!("sanitize={sanitize}")
    };
    println!("cargo:rustc-env=RECAUX_EMU_FLAVOUR={flavour}");
}
