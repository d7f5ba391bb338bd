//! TensorBoard sink: crc32c vectors, and records compared byte for byte with a file written by
//! TensorBoard's own code (tests/fixtures/tensorboard/, made by
//! scripts/ref/tensorboard_fixture.py with tensorboard 2.20.0 / protobuf 7.36.2).

use std::path::PathBuf;

use recaux::train::crc32c::{crc32c, masked_crc32c};
use recaux::train::tensorboard::{
    EventWriter, encode_scalar_event, encode_version_event, frame_record,
};

#[test]
fn crc32c_published_vectors() {
    // The CRC catalogue's check value for CRC-32/ISCSI.
    assert_eq!(crc32c(b"123456789"), 0xE306_9283);
    assert_eq!(crc32c(b""), 0);
    // RFC 3720 (iSCSI) appendix B.4.
    assert_eq!(crc32c(&[0u8; 32]), 0x8A91_36AA);
    assert_eq!(crc32c(&[0xFFu8; 32]), 0x62A8_AB43);
    let inc: Vec<u8> = (0u8..32).collect();
    assert_eq!(crc32c(&inc), 0x46DD_794E);
    let dec: Vec<u8> = (0u8..32).rev().collect();
    assert_eq!(crc32c(&dec), 0x113F_DB5C);
}

#[test]
fn masked_crc32c_matches_tensorboard() {
    // From tensorboard 2.20.0's
    // tensorboard.compat.tensorflow_stub.pywrap_tensorflow.masked_crc32c, run by hand.
    assert_eq!(masked_crc32c(b"123456789"), 0xC78A_B0E5);
    assert_eq!(masked_crc32c(b""), 0xA282_EAD8);
    assert_eq!(masked_crc32c(&24u64.to_le_bytes()), 0x224B_7FA3);
}

/// The events of scripts/ref/tensorboard_fixture.py (EVENTS there), in order.
const VERSION_WALL_TIME: f64 = 1764290000.25;
const EVENTS: &[(f64, i64, &str, f64)] = &[
    // 2.302585092994046 in the script: ln 10 to f64 precision.
    (1764290001.5, 0, "train/loss", std::f64::consts::LN_10),
    (1764290002.75, 1, "train/loss", 1.75),
    (1764290003.125, 1, "val/accuracy", 0.0),
    (1764290004.0, -1, "neg/step", -3.5),
    (1764290005.0625, 5000000000, "big/step", 0.1),
    (1764290006.0, 7, "λ=0.1/test acc", 0.8125),
    (1764290007.0, 8, "train/inf", f64::INFINITY),
    (1764290008.0, 9, "train/nan", f64::NAN),
];

fn fixture_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tensorboard/scalars.tfevents")
}

/// Splits a TFRecord file into record payloads, checking both CRCs of each record.
fn split_records(bytes: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < bytes.len() {
        assert!(pos + 12 <= bytes.len(), "truncated header at {pos}");
        let len_bytes = &bytes[pos..pos + 8];
        let len = u64::from_le_bytes(len_bytes.try_into().unwrap()) as usize;
        let len_crc = u32::from_le_bytes(bytes[pos + 8..pos + 12].try_into().unwrap());
        assert_eq!(len_crc, masked_crc32c(len_bytes), "length crc at {pos}");
        let start = pos + 12;
        assert!(start + len + 4 <= bytes.len(), "truncated record at {pos}");
        let data = &bytes[start..start + len];
        let data_crc = u32::from_le_bytes(bytes[start + len..start + len + 4].try_into().unwrap());
        assert_eq!(data_crc, masked_crc32c(data), "data crc at {pos}");
        out.push(data.to_vec());
        pos = start + len + 4;
    }
    out
}

#[test]
fn records_match_tensorboard_fixture_bytes() {
    let fixture = std::fs::read(fixture_path()).expect("read fixture");
    let records = split_records(&fixture);
    assert_eq!(records.len(), 1 + EVENTS.len());

    assert_eq!(
        encode_version_event(VERSION_WALL_TIME),
        records[0],
        "version record"
    );
    for (i, &(wall, step, tag, value)) in EVENTS.iter().enumerate() {
        let ours = encode_scalar_event(wall, step, tag, value as f32);
        assert_eq!(ours, records[i + 1], "event {i} ({tag}, step {step})");
    }

    let mut file = frame_record(&encode_version_event(VERSION_WALL_TIME));
    for &(wall, step, tag, value) in EVENTS {
        file.extend(frame_record(&encode_scalar_event(
            wall,
            step,
            tag,
            value as f32,
        )));
    }
    assert_eq!(file, fixture, "whole file");
}

#[test]
fn frame_record_layout() {
    // Hand-checked: 16 bytes of framing; the length is u64 little-endian.
    let rec = frame_record(b"abc");
    assert_eq!(rec.len(), 3 + 16);
    assert_eq!(&rec[..8], &[3, 0, 0, 0, 0, 0, 0, 0]);
    assert_eq!(&rec[12..15], b"abc");
}

/// Reads the wall_time that a record written by EventWriter starts with (field 1, fixed64).
fn wall_time_of(data: &[u8]) -> f64 {
    assert_eq!(data[0], 0x09, "wall_time key");
    f64::from_le_bytes(data[1..9].try_into().unwrap())
}

#[test]
fn event_writer_writes_readable_file() {
    // Left in place so scripts/ref/tensorboard_fixture.py can read it back with TensorBoard.
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("tb_roundtrip");
    let _ = std::fs::remove_dir_all(&dir);
    let scalars: &[(&str, i64, f64)] = &[
        ("train/loss", 1, 2.5),
        ("train/loss", 2, 1.25),
        ("val/accuracy", 2, 0.625),
        ("lambda_0.01/test_accuracy", 3, 0.1),
    ];
    let path = {
        let mut w = EventWriter::create(&dir).expect("create");
        for &(tag, step, v) in scalars {
            w.scalar(tag, step, v).expect("scalar");
        }
        w.flush().expect("flush");
        w.path().to_path_buf()
    };
    let name = path.file_name().unwrap().to_str().unwrap().to_string();
    assert!(name.starts_with("events.out.tfevents."), "{name}");
    assert!(name.ends_with(".recaux"), "{name}");
    let secs: u64 = name.split('.').nth(3).unwrap().parse().expect("unix secs");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(
        secs <= now && now - secs < 600,
        "file time {secs} vs now {now}"
    );

    let records = split_records(&std::fs::read(&path).expect("read back"));
    assert_eq!(records.len(), 1 + scalars.len());
    let w0 = wall_time_of(&records[0]);
    assert_eq!(records[0], encode_version_event(w0));
    assert!((w0 - secs as f64).abs() < 1.0, "version wall_time {w0}");
    for (i, &(tag, step, v)) in scalars.iter().enumerate() {
        let data = &records[i + 1];
        let w = wall_time_of(data);
        assert!(w >= w0 && w - w0 < 60.0, "wall_time {w} after {w0}");
        assert_eq!(*data, encode_scalar_event(w, step, tag, v as f32), "{tag}");
    }

    // A second writer in the same second must not overwrite the first file.
    let w2 = EventWriter::create(&dir).expect("second writer");
    assert_ne!(w2.path(), path.as_path());
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 2);
}

#[test]
fn create_fails_cleanly_on_a_file_in_the_way() {
    let base = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("tb_blocked");
    let _ = std::fs::remove_dir_all(&base);
    std::fs::create_dir_all(&base).unwrap();
    let blocker = base.join("not_a_dir");
    std::fs::write(&blocker, b"x").unwrap();
    let err = EventWriter::create(&blocker.join("run"))
        .err()
        .expect("must fail");
    assert!(err.to_string().contains("not_a_dir"), "{err}");
}
