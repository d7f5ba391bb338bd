//! NVTX ranges, one per op, so that Nsight Systems shows the ops above their kernels. The
//! NVTX library (libnvToolsExt, NVIDIA's tools extension) is loaded at run time with dlopen,
//! once: `RECAUX_NVTX_LIB` names it, else `libnvToolsExt.so.1` / `libnvToolsExt.so` are
//! tried. Absent (the usual case without Nsight), every range is a no-op: nothing is linked,
//! nothing fails.

use std::ffi::{CString, c_char, c_int};
use std::sync::OnceLock;

type Push = unsafe extern "C" fn(*const c_char) -> c_int;
type Pop = unsafe extern "C" fn() -> c_int;

struct Nvtx {
    /// Kept loaded for the process: the function pointers below point into it.
    _lib: libloading::Library,
    push: Push,
    pop: Pop,
    path: String,
}

fn load() -> Option<Nvtx> {
    let names = match std::env::var("RECAUX_NVTX_LIB") {
        Ok(p) if !p.is_empty() => vec![p],
        _ => vec!["libnvToolsExt.so.1".into(), "libnvToolsExt.so".into()],
    };
    for name in names {
        // SAFETY: loading a library runs its initialisers; NVTX's only set up its own state.
        let Ok(lib) = (unsafe { libloading::Library::new(&name) }) else {
            continue;
        };
        // SAFETY: the symbols have these C signatures in every NVTX version
        // (`int nvtxRangePushA(const char*)`, `int nvtxRangePop(void)`); the pointers are used
        // only while `lib` is alive (it lives as long as the process, in a static).
        let fns = unsafe {
            (
                lib.get::<Push>(b"nvtxRangePushA\0").map(|s| *s),
                lib.get::<Pop>(b"nvtxRangePop\0").map(|s| *s),
            )
        };
        if let (Ok(push), Ok(pop)) = fns {
            return Some(Nvtx {
                _lib: lib,
                push,
                pop,
                path: name,
            });
        }
    }
    None
}

fn nvtx() -> Option<&'static Nvtx> {
    static LIB: OnceLock<Option<Nvtx>> = OnceLock::new();
    LIB.get_or_init(load).as_ref()
}

/// The NVTX library in use, if one was found.
pub fn library() -> Option<&'static str> {
    nvtx().map(|n| n.path.as_str())
}

/// An open NVTX range (closed when dropped); a no-op without the library.
pub struct Range(Option<&'static Nvtx>);

/// Open a range named `name` (an op) until the returned value is dropped.
pub fn range(name: &str) -> Range {
    let lib = nvtx();
    if let Some(n) = lib {
        let c = CString::new(name).unwrap_or_default();
        // SAFETY: `c` is a valid NUL-terminated string for the call; NVTX copies it.
        unsafe { (n.push)(c.as_ptr()) };
    }
    Range(lib)
}

impl Drop for Range {
    fn drop(&mut self) {
        if let Some(n) = self.0 {
            // SAFETY: pops the range this value pushed (ranges nest per thread).
            unsafe { (n.pop)() };
        }
    }
}
