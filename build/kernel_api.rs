//! The kernels' host interface, generated from kernels/*.cu: each params struct is written
//! ONCE, in the .cu beside its kernel, and this module (used by build.rs, and by
//! tests/params_layout.rs) derives everything the host needs from it:
//!
//! - the Rust mirror of every struct (`#[repr(C)]`, `Pod`), with a compile-time assertion of
//!   every field's offset and size and of the struct's size against the layout computed here;
//! - the same numbers as C++ `static_assert(offsetof(...))` / `sizeof` lines, compiled after
//!   the kernels by nvcc and by the emu build: if a Rust mirror and its C++ struct ever
//!   disagree on one field (order, type, padding), the build stops and names the field;
//! - one typed handle per kernel (`Kernel<P>`: the kernel names for f32 and f64, the params
//!   type, the block-size multiple it needs), so launching a kernel with another kernel's
//!   params, or a misspelt name, does not compile;
//! - a table of every kernel (name, params, size, file) for `recaux info` and the tests.
//!
//! The accepted C++ is deliberately small (kernels/README.md): a struct is
//! `[template <class T>] struct Name {` then one field per line, `TYPE name;` or
//! `TYPE name[N];` with an optional trailing `// comment`, then `};`. Field types: any pointer
//! (a u64 device address), `i64`/`long long`, `u64`, `double`, `float`, `int`, `u32`/
//! `unsigned`. A field of type `T` is refused (its size would differ between the f32 and the
//! f64 kernel); so is a layout with padding (order 8-byte fields first). Kernels are declared
//! with `RECAUX_KERNEL_FT(name, Params, body)` (name_f32 and name_f64),
//! `RECAUX_KERNEL(name, Params, body)` (one kernel, for either element type),
//! `RECAUX_KERNEL_F32(name, Params, body)` (one kernel for f32 elements only: an f64
//! backend's launch is refused), `RECAUX_KERNEL_F32_LB(name, Params, body, threads, blocks)`
//! (the same with `__launch_bounds__(threads, blocks)`: blocks of more than `threads` threads
//! are refused), and optionally `RECAUX_BLOCK_MULTIPLE(name, k)` (blockDim.x must be a
//! multiple of k) or `RECAUX_BLOCK_EXACT(name, n)` (blockDim = (n, 1, 1)), and
//! `RECAUX_GRID_DIMS(name, d)` (the kernel strides over grid x, y, z up to d; default 1): the
//! launcher checks them all.

#![allow(dead_code)] // build.rs and the layout test use different parts

use std::collections::BTreeMap;
use std::fmt::Write as _;

/// A field's primitive type as both languages see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Prim {
    /// Any pointer: a u64 device address.
    Ptr,
    I64,
    U64,
    F64,
    F32,
    I32,
    U32,
}

impl Prim {
    pub fn size(self) -> usize {
        match self {
            Prim::Ptr | Prim::I64 | Prim::U64 | Prim::F64 => 8,
            Prim::F32 | Prim::I32 | Prim::U32 => 4,
        }
    }
    pub fn rust(self) -> &'static str {
        match self {
            Prim::Ptr | Prim::U64 => "u64",
            Prim::I64 => "i64",
            Prim::F64 => "f64",
            Prim::F32 => "f32",
            Prim::I32 => "i32",
            Prim::U32 => "u32",
        }
    }
}

/// One field of a params struct.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Field {
    pub name: String,
    /// The C++ type as written (for messages and docs).
    pub cty: String,
    pub prim: Prim,
    /// Array length (1 for a scalar).
    pub count: usize,
    /// Whether it was declared as an array.
    pub array: bool,
    /// The trailing comment, if any.
    pub doc: String,
}

/// A params struct (or a table row the host fills, like adam.cu's `AdamEntry`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Struct {
    pub name: String,
    /// `template <class T>`: instantiated for float and double.
    pub template: bool,
    /// The comment lines just above the struct.
    pub doc: String,
    pub fields: Vec<Field>,
}

/// A kernel declaration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KernelDecl {
    /// `name` of RECAUX_KERNEL_FT(name, ...) (kernels name_f32, name_f64) or RECAUX_KERNEL.
    pub base: String,
    pub params: String,
    /// Instantiated for f32 and f64 (RECAUX_KERNEL_FT).
    pub typed: bool,
    /// One kernel for f32 elements only (RECAUX_KERNEL_F32, RECAUX_KERNEL_F32_LB).
    pub f32_only: bool,
    /// Its `__launch_bounds__` thread count: blockDim.x * y * z must not exceed it
    /// (RECAUX_KERNEL_F32_LB; 0 = none, CUDA's 1024).
    pub block_max: u32,
    /// blockDim.x must be a multiple of this (RECAUX_BLOCK_MULTIPLE; 1 = any).
    pub block_multiple: u32,
    /// blockDim.x must be exactly this (RECAUX_BLOCK_EXACT; 0 = any).
    pub block_exact: u32,
    /// Grid dimensions the kernel strides over: 1 (x), 2 (x, y) or 3 (x, y, z)
    /// (RECAUX_GRID_DIMS; 1 when not declared). The others must be 1 at launch.
    pub grid_dims: u32,
}

impl KernelDecl {
    /// A kernel as its RECAUX_KERNEL* line declares it, with the default launch rules (any
    /// block, grid-stride over x) until a rule line names it.
    fn new(base: &str, params: &str, typed: bool, f32_only: bool, block_max: u32) -> Self {
        KernelDecl {
            base: base.into(),
            params: params.into(),
            typed,
            f32_only,
            block_max,
            block_multiple: 1,
            block_exact: 0,
            grid_dims: 1,
        }
    }
}

/// What one .cu file declares.
#[derive(Clone, Debug)]
pub struct CuFile {
    /// The file name without `.cu`: the op's name, and the Rust module that includes it.
    pub stem: String,
    pub structs: Vec<Struct>,
    pub kernels: Vec<KernelDecl>,
}

/// `#define NAME <integer>` lines (RX_MAX_REPLICAS and the like).
pub fn int_defines(text: &str) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for line in text.lines() {
        let mut it = line.split_whitespace();
        if it.next() == Some("#define")
            && let (Some(name), Some(val), None) = (it.next(), it.next(), it.next())
            && let Ok(v) = val.parse::<usize>()
        {
            m.insert(name.to_string(), v);
        }
    }
    m
}

fn prim_of(cty: &str) -> Result<Prim, String> {
    if cty.contains('*') {
        return Ok(Prim::Ptr);
    }
    let t = cty.trim_start_matches("const ").trim();
    Ok(match t {
        "i64" | "long long" | "long long int" => Prim::I64,
        "u64" | "unsigned long long" => Prim::U64,
        "double" => Prim::F64,
        "float" => Prim::F32,
        "int" | "i32" => Prim::I32,
        "u32" | "unsigned" | "unsigned int" => Prim::U32,
        "T" => {
            return Err(
                "type `T` has another size in the f32 and the f64 kernel: pass a host scalar as \
                 `double` and convert it in the kernel"
                    .into(),
            );
        }
        other => return Err(format!("type `{other}` is not one of the params types")),
    })
}

fn parse_field(line: &str, defines: &BTreeMap<String, usize>) -> Result<Field, String> {
    let (code, doc) = match line.find("//") {
        Some(i) => (line[..i].trim(), line[i + 2..].trim().to_string()),
        None => (line.trim(), String::new()),
    };
    let code = code
        .strip_suffix(';')
        .ok_or_else(|| format!("`{code}`: one field per line, ending in `;`"))?
        .trim();
    if code.contains(',') || code.contains('=') || code.contains('(') {
        return Err(format!("`{code}`: one plain field per line"));
    }
    let (decl, count, array) = match code.find('[') {
        Some(i) => {
            let inner = code[i + 1..]
                .strip_suffix(']')
                .ok_or_else(|| format!("`{code}`: bad array"))?
                .trim();
            let n = inner
                .parse::<usize>()
                .ok()
                .or_else(|| defines.get(inner).copied())
                .ok_or_else(|| {
                    format!("`{code}`: array length `{inner}` is not a known integer")
                })?;
            (code[..i].trim(), n, true)
        }
        None => (code, 1, false),
    };
    let split = decl
        .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .ok_or_else(|| format!("`{code}`: expected `TYPE name`"))?;
    let (cty, name) = (decl[..=split].trim(), decl[split + 1..].trim());
    if name.is_empty() || cty.is_empty() {
        return Err(format!("`{code}`: expected `TYPE name`"));
    }
    let prim = prim_of(cty).map_err(|e| format!("field `{name}`: {e}"))?;
    Ok(Field {
        name: name.to_string(),
        cty: cty.to_string(),
        prim,
        count,
        array,
        doc,
    })
}

/// An integer literal or a `#define`d integer.
fn int_arg(v: &str, defines: &BTreeMap<String, usize>) -> Option<u32> {
    v.parse::<u32>()
        .ok()
        .or_else(|| defines.get(v).and_then(|&d| u32::try_from(d).ok()))
}

/// The arguments of `MACRO(a, b, c)` on one line.
fn macro_args<'a>(line: &'a str, mac: &str) -> Option<Vec<&'a str>> {
    let rest = line
        .trim()
        .strip_prefix(mac)?
        .trim_start()
        .strip_prefix('(')?;
    let inner = &rest[..rest.rfind(')')?];
    Some(inner.split(',').map(str::trim).collect())
}

/// Parse one .cu file (`stem` is its name without `.cu`).
pub fn parse(stem: &str, text: &str, defines: &BTreeMap<String, usize>) -> Result<CuFile, String> {
    let mut defines = defines.clone();
    defines.extend(int_defines(text));
    let lines: Vec<&str> = text.lines().collect();
    let mut structs = Vec::new();
    let mut kernels: Vec<KernelDecl> = Vec::new();
    // (kernel, multiple, exact, grid dims, line)
    let mut rules: Vec<(String, u32, u32, u32, usize)> = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i].trim();
        let lineno = i + 1;
        let at = |what: &str| format!("kernels/{stem}.cu:{lineno}: {what}");
        if let Some(rest) = line.strip_prefix("struct ") {
            let name = rest
                .strip_suffix('{')
                .map(str::trim)
                .filter(|n| n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
                .ok_or_else(|| at("write a params struct as `struct Name {` on one line"))?;
            let template = i > 0 && lines[i - 1].trim() == "template <class T>";
            // comment lines above (and above the template line)
            let mut k = i as isize - 1 - template as isize;
            let mut doc = Vec::new();
            while k >= 0 && lines[k as usize].trim().starts_with("//") {
                doc.push(lines[k as usize].trim().trim_start_matches('/').trim());
                k -= 1;
            }
            doc.reverse();
            let mut fields = Vec::new();
            i += 1;
            loop {
                let l = lines
                    .get(i)
                    .ok_or_else(|| at(&format!("struct {name} is not closed by `}};`")))?
                    .trim();
                if l == "};" {
                    break;
                }
                if !l.is_empty() && !l.starts_with("//") {
                    fields.push(
                        parse_field(l, &defines)
                            .map_err(|e| format!("kernels/{stem}.cu:{}: {name}: {e}", i + 1))?,
                    );
                }
                i += 1;
            }
            structs.push(Struct {
                name: name.to_string(),
                template,
                doc: doc.join("\n"),
                fields,
            });
        } else if let Some(a) = macro_args(line, "RECAUX_KERNEL_FT") {
            if a.len() != 3 {
                return Err(at("RECAUX_KERNEL_FT(name, Params, body)"));
            }
            kernels.push(KernelDecl::new(a[0], a[1], true, false, 0));
        } else if let Some(a) = macro_args(line, "RECAUX_KERNEL") {
            if a.len() != 3 {
                return Err(at("RECAUX_KERNEL(name, Params, body)"));
            }
            let params = a[1].split('<').next().unwrap_or("").trim();
            kernels.push(KernelDecl::new(a[0], params, false, false, 0));
        } else if let Some(a) = macro_args(line, "RECAUX_KERNEL_F32_LB") {
            let n = a.get(3).and_then(|v| int_arg(v, &defines));
            let b = a.get(4).and_then(|v| int_arg(v, &defines));
            match (a.len(), n, b) {
                (5, Some(n), Some(b)) if (1..=1024).contains(&n) && b >= 1 => {
                    kernels.push(KernelDecl::new(a[0], a[1], false, true, n))
                }
                _ => {
                    return Err(at(
                        "RECAUX_KERNEL_F32_LB(name, Params, body, threads, blocks) with \
                         1 <= threads <= 1024 and blocks >= 1 (literals or #defines)",
                    ));
                }
            }
        } else if let Some(a) = macro_args(line, "RECAUX_KERNEL_F32") {
            if a.len() != 3 {
                return Err(at("RECAUX_KERNEL_F32(name, Params, body)"));
            }
            kernels.push(KernelDecl::new(a[0], a[1], false, true, 0));
        } else if let Some(a) = macro_args(line, "RECAUX_BLOCK_MULTIPLE") {
            let k = a.get(1).and_then(|v| int_arg(v, &defines));
            match (a.len(), k) {
                (2, Some(k)) if k >= 1 && 1024 % k == 0 => {
                    rules.push((a[0].into(), k, 0, 0, i + 1))
                }
                _ => return Err(at("RECAUX_BLOCK_MULTIPLE(kernel, k) with k dividing 1024")),
            }
        } else if let Some(a) = macro_args(line, "RECAUX_BLOCK_EXACT") {
            let n = a.get(1).and_then(|v| int_arg(v, &defines));
            match (a.len(), n) {
                (2, Some(n)) if (1..=1024).contains(&n) => {
                    rules.push((a[0].into(), 1, n, 0, i + 1))
                }
                _ => return Err(at("RECAUX_BLOCK_EXACT(kernel, n) with 1 <= n <= 1024")),
            }
        } else if let Some(a) = macro_args(line, "RECAUX_GRID_DIMS") {
            let d = a.get(1).and_then(|v| int_arg(v, &defines));
            match (a.len(), d) {
                (2, Some(d)) if (1..=3).contains(&d) => rules.push((a[0].into(), 1, 0, d, i + 1)),
                _ => return Err(at("RECAUX_GRID_DIMS(kernel, d) with d in 1..=3")),
            }
        }
        i += 1;
    }
    for (name, k, n, d, line) in rules {
        let kd = kernels
            .iter_mut()
            .find(|kd| kd.base == name)
            .ok_or_else(|| {
                format!("kernels/{stem}.cu:{line}: a block rule for unknown kernel {name} (declare the kernel first)")
            })?;
        kd.block_multiple = kd.block_multiple.max(k);
        if n > 0 {
            kd.block_exact = n;
        }
        if d > 0 {
            kd.grid_dims = d;
        }
    }
    for kd in &kernels {
        let s = structs
            .iter()
            .find(|s| s.name == kd.params)
            .ok_or_else(|| {
                format!(
                    "kernels/{stem}.cu: kernel {}: params struct {} is not defined in this file",
                    kd.base, kd.params
                )
            })?;
        if s.template != kd.typed {
            return Err(format!(
                "kernels/{stem}.cu: kernel {}: RECAUX_KERNEL_FT takes a `template <class T>` \
                 struct, RECAUX_KERNEL and RECAUX_KERNEL_F32 a plain one",
                kd.base
            ));
        }
        if kd.block_max > 0 && (kd.block_exact > kd.block_max || kd.block_multiple > kd.block_max) {
            return Err(format!(
                "kernels/{stem}.cu: kernel {}: its block rule asks for more threads than its \
                 launch bounds ({})",
                kd.base, kd.block_max
            ));
        }
    }
    Ok(CuFile {
        stem: stem.to_string(),
        structs,
        kernels,
    })
}

/// Offsets and sizes, bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    /// (offset, size) of each field, in order.
    pub fields: Vec<(usize, usize)>,
    pub size: usize,
}

/// The `#[repr(C)]` layout of a struct; an error if it has padding (which `Pod` forbids and
/// the calling convention rules out: 8-byte fields first, 4-byte ones in pairs).
pub fn layout(s: &Struct) -> Result<Layout, String> {
    let mut off = 0usize;
    let mut fields = Vec::new();
    let mut align = 1usize;
    for f in &s.fields {
        let a = f.prim.size();
        align = align.max(a);
        if !off.is_multiple_of(a) {
            return Err(format!(
                "{}: field `{}` would need {} bytes of padding before it: order the 8-byte \
                 fields first and 4-byte ones in pairs",
                s.name,
                f.name,
                a - off % a
            ));
        }
        let size = a * f.count;
        fields.push((off, size));
        off += size;
    }
    if !off.is_multiple_of(align) {
        return Err(format!(
            "{}: {} bytes of tail padding: add a 4-byte field (e.g. `int pad_;`)",
            s.name,
            align - off % align
        ));
    }
    Ok(Layout { fields, size: off })
}

/// Screaming snake case of a kernel base name: `l1_fwd_partial` -> `L1_FWD_PARTIAL`.
pub fn const_name(base: &str) -> String {
    base.to_ascii_uppercase()
}

fn doc_lines(out: &mut String, indent: &str, doc: &str) {
    for l in doc.lines() {
        let _ = writeln!(out, "{indent}/// {l}");
    }
}

/// The Rust module for one .cu file: params mirrors with layout assertions, kernel handles.
pub fn rust_module(f: &CuFile) -> Result<String, String> {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "// @generated by build.rs (build/kernel_api.rs) from kernels/{}.cu: do not edit.\n",
        f.stem
    );
    for s in &f.structs {
        let lay = layout(s)?;
        doc_lines(&mut o, "", &s.doc);
        if !s.doc.is_empty() {
            o.push_str("///\n");
        }
        let _ = writeln!(
            o,
            "/// Mirror of `{}` in kernels/{}.cu ({} bytes), generated from it.",
            s.name, f.stem, lay.size
        );
        o.push_str(
            "#[repr(C)]\n#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]\n",
        );
        let _ = writeln!(o, "pub struct {} {{", s.name);
        for fl in &s.fields {
            let c = if fl.doc.is_empty() {
                format!("`{}`", fl.cty)
            } else {
                format!("`{}`: {}", fl.cty, fl.doc)
            };
            let _ = writeln!(o, "    /// {c}");
            let ty = if fl.array {
                format!("[{}; {}]", fl.prim.rust(), fl.count)
            } else {
                fl.prim.rust().to_string()
            };
            let _ = writeln!(o, "    pub {}: {ty},", fl.name);
        }
        o.push_str("}\n");
        // rustc's layout must be the one the C++ side is checked against.
        let _ = writeln!(o, "const _: () = {{");
        let _ = writeln!(
            o,
            "    assert!(::core::mem::size_of::<{}>() == {});",
            s.name, lay.size
        );
        for (fl, (off, size)) in s.fields.iter().zip(&lay.fields) {
            let _ = writeln!(
                o,
                "    assert!(::core::mem::offset_of!({}, {}) == {off});",
                s.name, fl.name
            );
            let _ = writeln!(
                o,
                "    assert!(::core::mem::size_of::<{}>() == {size});",
                if fl.array {
                    format!("[{}; {}]", fl.prim.rust(), fl.count)
                } else {
                    fl.prim.rust().to_string()
                }
            );
        }
        o.push_str("};\n\n");
    }
    for k in &f.kernels {
        let names = if k.typed {
            format!("[Some(\"{0}_f32\"), Some(\"{0}_f64\")]", k.base)
        } else if k.f32_only {
            format!("[Some(\"{0}\"), None]", k.base)
        } else {
            format!("[Some(\"{0}\"), Some(\"{0}\")]", k.base)
        };
        let _ = writeln!(
            o,
            "/// Kernel `{}{}` of kernels/{}.cu, params [`{}`]; grid-stride over {}{}{}{}.",
            k.base,
            if k.typed { "_f32` / `_f64" } else { "" },
            f.stem,
            k.params,
            ["x", "x and y", "x, y and z"][k.grid_dims as usize - 1],
            if k.block_exact > 0 {
                format!("; blockDim = ({}, 1, 1)", k.block_exact)
            } else if k.block_multiple > 1 {
                format!("; blockDim.x a multiple of {}", k.block_multiple)
            } else {
                String::new()
            },
            if k.block_max > 0 {
                format!("; at most {} threads a block", k.block_max)
            } else {
                String::new()
            },
            if k.f32_only { "; f32 only" } else { "" }
        );
        let _ = writeln!(
            o,
            "pub const {}: crate::backend::kernel::Kernel<{}> = crate::backend::kernel::Kernel::new({names}, {}, {}, {}, {});\n",
            const_name(&k.base),
            k.params,
            k.block_multiple,
            k.block_exact,
            k.block_max,
            k.grid_dims
        );
    }
    Ok(o)
}

/// The table of every kernel (Rust): `KernelInfo` rows.
pub fn rust_table(files: &[CuFile]) -> Result<String, String> {
    let mut o = String::from(
        "// @generated by build.rs (build/kernel_api.rs) from kernels/*.cu: do not edit.\n\n",
    );
    o.push_str("/// Every kernel compiled into the fatbin and the emu library.\n");
    o.push_str("pub const ALL: &[crate::backend::kernel::KernelInfo] = &[\n");
    for f in files {
        for k in &f.kernels {
            let s = f
                .structs
                .iter()
                .find(|s| s.name == k.params)
                .ok_or_else(|| format!("{}: no struct {}", f.stem, k.params))?;
            let size = layout(s)?.size;
            let names: Vec<String> = if k.typed {
                vec![format!("{}_f32", k.base), format!("{}_f64", k.base)]
            } else {
                vec![k.base.clone()]
            };
            for n in names {
                let _ = writeln!(
                    o,
                    "    crate::backend::kernel::KernelInfo {{ name: \"{n}\", file: \"kernels/{}.cu\", params: \"{}\", params_size: {size}, grid_dims: {} }},",
                    f.stem, k.params, k.grid_dims
                );
            }
        }
    }
    o.push_str("];\n");
    Ok(o)
}

/// C++ static_asserts: every struct's size and every field's offset and size, as the Rust
/// mirror has them. Included after the kernels in the nvcc and the emu translation units.
pub fn cpp_asserts(structs: &[Struct]) -> Result<String, String> {
    let mut o = String::from(
        "// @generated by build.rs (build/kernel_api.rs): the layout of every params struct as its\n\
         // Rust mirror has it. A failure here means a Rust mirror and its kernel disagree.\n\
         #pragma once\n#include <cstddef>\n",
    );
    for s in structs {
        let lay = layout(s)?;
        let insts: Vec<String> = if s.template {
            vec![format!("{}<float>", s.name), format!("{}<double>", s.name)]
        } else {
            vec![s.name.clone()]
        };
        for ty in insts {
            let _ = writeln!(
                o,
                "static_assert(sizeof({ty}) == {}, \"{ty}: the Rust mirror is {} bytes\");",
                lay.size, lay.size
            );
            for (fl, (off, size)) in s.fields.iter().zip(&lay.fields) {
                let _ = writeln!(
                    o,
                    "static_assert(offsetof({ty}, {f}) == {off}, \"{ty}.{f}: the Rust mirror has it at offset {off}\");",
                    f = fl.name
                );
                let _ = writeln!(
                    o,
                    "static_assert(sizeof({ty}::{f}) == {size}, \"{ty}.{f}: the Rust mirror has it {size} bytes long\");",
                    f = fl.name
                );
            }
        }
    }
    Ok(o)
}
