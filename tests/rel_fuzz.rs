//! Issue 11, fuzz-style: a few hundred mutated inputs (audio files of every format, weight
//! files, run configs), each given to a fresh `recaux` process, which must never panic or
//! abort: it succeeds, or fails with exit code 1 and one `error:` line that names the file.
//!
//! Deterministic: every mutation comes from a fixed seed (splitmix64). Each child runs under
//! `ulimit -v` (4 GiB of address space), so an input that would make recaux allocate without
//! bound shows up as a failed allocation (an abort, caught here) instead of exhausting the
//! machine. Mutations:
//! - audio (mp3, flac, ogg, wav mono/stereo): truncation, flipped bytes (anywhere or in the
//!   first 64 bytes), overwritten ranges, random bytes behind a valid magic, and for WAV every
//!   `fmt `/`data` header field set to edge values (sample rate 0/1/huge, channels 0/33/65535,
//!   bits 0/1/65535, block align 0, sizes 0/huge);
//! - safetensors weights: truncation, flipped bytes in the length prefix and the JSON header,
//!   shapes, dtypes and data offsets set to absurd values;
//! - run configs: truncation, flipped bytes, each value replaced by an adversarial one
//!   (0, -1, 1e30, NaN, 2^63, huge strings, lists, maps), deep nesting, a 2 MB file.

mod rel_common;

use rel_common::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn pick<T: Copy>(&mut self, v: &[T]) -> T {
        v[self.below(v.len())]
    }
}

/// Run `recaux args...` with the address space limited to 4 GiB.
fn limited(args: &[&str]) -> Output {
    Command::new("sh")
        .arg("-c")
        .arg("ulimit -v 4194304; exec \"$0\" \"$@\"")
        .arg(bin())
        .args(args)
        .output()
        .unwrap()
}

/// The outcome must be a success (`Ok(true)`) or one clean error line naming `file`
/// (`Ok(false)`); anything else is the problem.
fn judge(o: &Output, file: &Path) -> Result<bool, String> {
    let e = err(o);
    let f = file.display().to_string();
    if e.contains("panicked") {
        return Err(format!("{f}: panic: {e}"));
    }
    match o.status.code() {
        Some(0) => Ok(true),
        Some(1) => {
            let lines: Vec<&str> = e.lines().filter(|l| !l.trim().is_empty()).collect();
            let errors: Vec<&&str> = lines.iter().filter(|l| l.starts_with("error: ")).collect();
            if errors.len() != 1 {
                Err(format!("{f}: not one error line: {e}"))
            } else if !errors[0].contains(&f) {
                Err(format!(
                    "{f}: the error does not name the file: {}",
                    errors[0]
                ))
            } else {
                Ok(false)
            }
        }
        other => Err(format!("{f}: exit {other:?} ({:?}): {e}", o.status)),
    }
}

/// Run `check` on every file on two threads; print how many succeeded and failed cleanly, and
/// assert that nothing else happened.
fn run_all(what: &str, files: &[PathBuf], check: impl Fn(&Path) -> Result<bool, String> + Sync) {
    let t0 = std::time::Instant::now();
    let half = files.len().div_ceil(2);
    let results: Vec<Result<bool, String>> = std::thread::scope(|s| {
        let hs: Vec<_> = files
            .chunks(half.max(1))
            .map(|c| s.spawn(|| c.iter().map(|f| check(f)).collect::<Vec<_>>()))
            .collect();
        hs.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    let ok = results.iter().filter(|r| matches!(r, Ok(true))).count();
    let clean = results.iter().filter(|r| matches!(r, Ok(false))).count();
    let problems: Vec<String> = results.into_iter().filter_map(Result::err).collect();
    eprintln!(
        "{} mutated {what} in {:.1} s: {ok} accepted, {clean} refused with one line naming the \
         file, {} problems",
        files.len(),
        t0.elapsed().as_secs_f64(),
        problems.len()
    );
    assert!(
        problems.is_empty(),
        "{} problems:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/audio")
            .join(name),
    )
    .unwrap()
}

/// Byte offsets of the WAV header fields: (offset, width) of format tag, channels, rate,
/// byte rate, block align, bits, data size, RIFF size, fmt size (canonical 44-byte header).
const WAV_FIELDS: [(usize, usize); 9] = [
    (20, 2),
    (22, 2),
    (24, 4),
    (28, 4),
    (32, 2),
    (34, 2),
    (40, 4),
    (4, 4),
    (16, 4),
];

fn mutate_audio(rng: &mut Rng, base: &[u8], is_wav: bool) -> Vec<u8> {
    let mut b = base.to_vec();
    let kind = rng.below(if is_wav { 7 } else { 5 });
    match kind {
        0 => b.truncate(rng.below(b.len())),
        1 => {
            for _ in 0..1 + rng.below(16) {
                let i = rng.below(b.len());
                b[i] ^= 1 << rng.below(8);
            }
        }
        2 => {
            for _ in 0..1 + rng.below(8) {
                let i = rng.below(64.min(b.len()));
                b[i] = rng.next() as u8;
            }
        }
        3 => {
            let start = rng.below(b.len());
            let n = 1 + rng.below(512);
            for x in b.iter_mut().skip(start).take(n) {
                *x = rng.next() as u8;
            }
        }
        4 => {
            let keep = 4 + rng.below(12);
            let n = rng.below(4096);
            b.truncate(keep.min(b.len()));
            b.extend((0..n).map(|_| rng.next() as u8));
        }
        _ => {
            // one or two WAV header fields set to an edge value
            for _ in 0..1 + rng.below(2) {
                let (at, w) = rng.pick(&WAV_FIELDS);
                let random = rng.next();
                let v: u64 = rng.pick(&[
                    0,
                    1,
                    2,
                    3,
                    8,
                    16,
                    24,
                    32,
                    33,
                    255,
                    999,
                    1000,
                    44100,
                    768_001,
                    65535,
                    0x7fff_ffff,
                    u32::MAX as u64,
                    random,
                ]);
                let bytes = v.to_le_bytes();
                b[at..at + w].copy_from_slice(&bytes[..w]);
            }
        }
    }
    b
}

#[test]
fn mutated_audio_files_never_panic_or_abort_and_failures_name_the_file() {
    let d = tmpdir("rel_fuzz_audio");
    let stereo = d.join("stereo.wav");
    let s: Vec<f32> = (0..16000).map(|i| ((i % 50) as f32 / 50.0) - 0.5).collect();
    recaux::data::wav::write_wav(&stereo, &s, 16000, 2).unwrap();
    let bases: Vec<(&str, Vec<u8>)> = vec![
        ("wav", fixture("chirp_8k.wav")),
        ("wav", std::fs::read(&stereo).unwrap()),
        ("mp3", fixture("music_44100_stereo.mp3")),
        ("flac", fixture("music_16k.flac")),
        ("ogg", fixture("music_22050.ogg")),
    ];
    let mut rng = Rng(0x5EED_A0D1);
    let mut files = Vec::new();
    for (k, (ext, base)) in bases.iter().enumerate() {
        for i in 0..60 {
            let p = d.join(format!("m{k}_{i:02}.{ext}"));
            std::fs::write(&p, mutate_audio(&mut rng, base, *ext == "wav")).unwrap();
            files.push(p);
        }
    }
    let npy = d.join("out.npy");
    run_all("audio files", &files, |f| {
        let o = limited(&[
            "mel",
            f.to_str().unwrap(),
            "-o",
            npy.with_extension(format!("{}.npy", f.file_stem().unwrap().to_string_lossy()))
                .to_str()
                .unwrap(),
            "--clip-seconds",
            "1",
        ]);
        judge(&o, f)
    });
}

fn mutate_safetensors(rng: &mut Rng, base: &[u8]) -> Vec<u8> {
    let hlen = u64::from_le_bytes(base[..8].try_into().unwrap()) as usize;
    let header = String::from_utf8(base[8..8 + hlen].to_vec()).unwrap();
    let mut b = base.to_vec();
    match rng.below(6) {
        0 => b.truncate(rng.below(b.len())),
        1 => {
            let i = rng.below(8);
            b[i] = rng.next() as u8;
        }
        2 => {
            for _ in 0..1 + rng.below(4) {
                let i = 8 + rng.below(hlen);
                b[i] = rng.next() as u8;
            }
        }
        k => {
            // a number in the JSON header (a shape entry or a data offset) set to an absurd
            // value, or a dtype changed; the length prefix is fixed up
            let h = if k == 3 {
                let dt = rng.pick(&["\"F16\"", "\"I8\"", "\"BOGUS\"", "\"F64\"", "\"BOOL\""]);
                header.replacen("\"F32\"", dt, 1 + rng.below(3))
            } else {
                let nums: Vec<(usize, usize)> = header
                    .char_indices()
                    .filter(|(_, c)| c.is_ascii_digit())
                    .map(|(i, _)| i)
                    .fold(Vec::new(), |mut v: Vec<(usize, usize)>, i| {
                        match v.last_mut() {
                            Some(last) if last.1 == i => last.1 = i + 1,
                            _ => v.push((i, i + 1)),
                        }
                        v
                    });
                let (a, z) = rng.pick(&nums);
                let val = rng.pick(&[
                    "0",
                    "1",
                    "3",
                    "4294967296",
                    "18446744073709551615",
                    "99999999999999999999999",
                    "-1",
                    "2147483648",
                ]);
                format!("{}{}{}", &header[..a], val, &header[z..])
            };
            let mut out = (h.len() as u64).to_le_bytes().to_vec();
            out.extend(h.as_bytes());
            out.extend(&base[8 + hlen..]);
            b = out;
        }
    }
    b
}

#[test]
fn mutated_weight_files_never_panic_or_abort_and_failures_name_the_file() {
    let d = tmpdir("rel_fuzz_weights");
    let (weights, input) = f32_step_fixture(&d, |_, _| {});
    let base = std::fs::read(&weights).unwrap();
    let mut rng = Rng(0x5EED_7E45);
    let files: Vec<PathBuf> = (0..100)
        .map(|i| {
            let p = d.join(format!("w{i:03}.safetensors"));
            std::fs::write(&p, mutate_safetensors(&mut rng, &base)).unwrap();
            p
        })
        .collect();
    run_all("weight files", &files, |f| {
        let o = limited(&[
            "step",
            "--weights",
            f.to_str().unwrap(),
            "--input",
            input.to_str().unwrap(),
            "--out",
            f.with_extension("out").to_str().unwrap(),
        ]);
        judge(&o, f)
    });
}

fn mutate_config(rng: &mut Rng, base: &str) -> String {
    let adversarial = [
        "0",
        "-1",
        "1e30",
        "-1e308",
        ".nan",
        ".inf",
        "18446744073709551616",
        "4611686018427387904",
        "2147483648",
        "100000000",
        "\"\"",
        "x",
        "[]",
        "{}",
        "null",
        "[0, 1e300]",
        "{ a: 1 }",
        "\"../..\"",
    ];
    match rng.below(4) {
        0 => base[..rng.below(base.len())].to_string(),
        1 => {
            let mut b = base.as_bytes().to_vec();
            for _ in 0..1 + rng.below(6) {
                let i = rng.below(b.len());
                b[i] = rng.pick(b"{}[]:,#&*!|>'\"%@` \n-9.ex");
            }
            String::from_utf8_lossy(&b).into_owned()
        }
        _ => {
            // one `key: value` (inside a flow map or on its own line) gets an adversarial value
            let keys = [
                "features: ",
                "hidden: ",
                "fc1: ",
                "classes: ",
                "dropout: ",
                "batch_size: ",
                "crop_frames: ",
                "seed: ",
                "epochs: ",
                "lr: ",
                "lr_decay: ",
                "lambdas: ",
                "seeds: ",
                "name: ",
                "backend: ",
                "eval_crop: ",
            ];
            let key = rng.pick(&keys);
            let Some(at) = base.find(key) else {
                return base.to_string();
            };
            let v0 = at + key.len();
            let end = base[v0..]
                .find([',', '}', '\n'])
                .map_or(base.len(), |e| v0 + e);
            let end = if key == "lambdas: " || key == "seeds: " {
                base[v0..].find('\n').map_or(base.len(), |e| v0 + e)
            } else {
                end
            };
            format!("{}{}{}", &base[..v0], rng.pick(&adversarial), &base[end..])
        }
    }
}

#[test]
fn mutated_run_configs_never_panic_or_abort_and_failures_name_the_file() {
    let d = tmpdir("rel_fuzz_configs");
    make_store(&d.join("s.rfs"), true, 0);
    let base = config_text(&d.join("s.rfs"), &d.join("runs"), "fuzz", 1);
    let mut rng = Rng(0x5EED_C0F1);
    // two fixed cases (deep nesting, a 2 MB file), then random mutations
    let deep = "a: ".to_string() + &"[".repeat(20000) + &"]".repeat(20000);
    let big = base.clone() + &"#".repeat(2 << 20);
    let files: Vec<PathBuf> = (0..80)
        .map(|i| {
            let p = d.join(format!("c{i:02}.yaml"));
            let text = match i {
                0 => deep.clone(),
                1 => big.clone(),
                _ => mutate_config(&mut rng, &base),
            };
            std::fs::write(&p, text).unwrap();
            p
        })
        .collect();
    run_all("configs", &files, |f| {
        // a mutated config that is still valid trains one batch of one epoch
        let name = f.file_stem().unwrap().to_string_lossy().into_owned();
        let o = limited(&[
            "train",
            "--config",
            f.to_str().unwrap(),
            "--epochs",
            "1",
            "--max-batches",
            "1",
            "--out-dir",
            d.join("runs").to_str().unwrap(),
            "--name",
            &name,
        ]);
        judge(&o, f)
    });
}
