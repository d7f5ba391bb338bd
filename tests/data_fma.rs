//! tracks.csv parsing on FMA's real header shape (tests/fixtures/data/tracks_example.csv) and
//! the FMA dataset view. Expected values were read off the fixture by hand.

mod data_common;

use recaux::Error;
use recaux::data::Split;
use recaux::data::fma::{self, Subset, Track, find_column, parse_tracks};
use std::path::Path;

const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/data/tracks_example.csv"
);

#[test]
fn parses_the_fixture_rows() {
    let tracks = fma::read_tracks(Path::new(FIXTURE)).unwrap();
    let want = vec![
        Track {
            id: 2,
            subset: Some(Subset::Small),
            split: Some(Split::Train),
            genre_top: Some("Hip-Hop".into()),
        },
        Track {
            id: 5,
            subset: Some(Subset::Small),
            split: Some(Split::Validation),
            genre_top: Some("Hip-Hop".into()),
        },
        Track {
            id: 10,
            subset: Some(Subset::Medium),
            split: Some(Split::Test),
            genre_top: Some("Pop".into()),
        },
        Track {
            id: 140,
            subset: Some(Subset::Small),
            split: Some(Split::Train),
            genre_top: None,
        },
    ];
    assert_eq!(tracks, want);
}

#[test]
fn quoted_newline_doubled_quotes_and_comma_stay_in_their_columns() {
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_path(FIXTURE)
        .unwrap();
    let recs: Vec<csv::StringRecord> = rdr.records().map(|r| r.unwrap()).collect();
    assert_eq!(recs.len(), 3 + 4, "3 header lines + 4 tracks");
    let (g, f) = (&recs[0], &recs[1]);
    assert_eq!(g.len(), 53); // track_id + FMA's 52 columns
    let bio = find_column(g, f, "artist", "bio").unwrap();
    let title = find_column(g, f, "track", "title").unwrap();
    let album_title = find_column(g, f, "album", "title").unwrap();
    // field names repeat across groups: (album, title) and (track, title) differ
    assert_ne!(title, album_title);
    assert_eq!(title, 52);
    assert_eq!(&recs[3][bio], "<p>A bio with a\nnewline and \"quotes\"</p>");
    assert_eq!(&recs[3][title], "Example, with a comma");
    assert_eq!(&recs[3][album_title], "Example Album");
    assert_eq!(find_column(g, f, "set", "split"), Some(31));
    assert_eq!(find_column(g, f, "set", "subset"), Some(32));
    assert_eq!(find_column(g, f, "track", "genre_top"), Some(40));
}

#[test]
fn subsets_are_nested_and_rows_without_genre_are_left_out() {
    let tracks = fma::read_tracks(Path::new(FIXTURE)).unwrap();
    let audio = data_common::tmpdir("fma_subsets");
    let small = fma::dataset_from_tracks(&tracks, Subset::Small, &audio).unwrap();
    assert_eq!(small.classes, vec!["Hip-Hop"]);
    assert_eq!(
        small.items.iter().map(|i| i.track_id).collect::<Vec<_>>(),
        vec![2, 5]
    );
    assert_eq!(small.notes.len(), 1, "{:?}", small.notes); // track 140: no genre_top
    let medium = fma::dataset_from_tracks(&tracks, Subset::Medium, &audio).unwrap();
    assert_eq!(medium.classes, vec!["Hip-Hop", "Pop"]);
    assert_eq!(
        medium
            .items
            .iter()
            .map(|i| (i.track_id, i.label))
            .collect::<Vec<_>>(),
        vec![(2, 0), (5, 0), (10, 1)]
    );
    assert_eq!(medium.items[2].official, Some(Split::Test));
    assert_eq!(medium.items[1].name, "000005");
}

#[test]
fn audio_path_takes_any_supported_extension() {
    let audio = data_common::tmpdir("fma_paths");
    std::fs::create_dir_all(audio.join("000")).unwrap();
    std::fs::create_dir_all(audio.join("123")).unwrap();
    std::fs::write(audio.join("000/000005.flac"), b"x").unwrap();
    std::fs::write(audio.join("123/123456.ogg"), b"x").unwrap();
    assert_eq!(
        fma::track_audio_path(&audio, 5),
        audio.join("000/000005.flac")
    );
    assert_eq!(
        fma::track_audio_path(&audio, 123456),
        audio.join("123/123456.ogg")
    );
    // nothing there: the .mp3 path (prepare reports it missing)
    assert_eq!(
        fma::track_audio_path(&audio, 2),
        audio.join("000/000002.mp3")
    );
}

fn err_text(text: &str) -> String {
    match parse_tracks(text.as_bytes()) {
        Err(Error::Format(m)) => m,
        other => panic!("expected a format error, got {other:?}"),
    }
}

#[test]
fn malformed_files_give_clear_errors() {
    let full = std::fs::read_to_string(FIXTURE).unwrap();
    let lines: Vec<&str> = full.split_inclusive('\n').collect();
    // a one-level header (no track_id line)
    let m = err_text(&lines[..2].concat());
    assert!(m.contains("header"), "{m}");
    // the third line is not track_id
    let m = err_text(&format!("{}{}x,\n", lines[0], lines[1]));
    assert!(m.contains("track_id"), "{m}");
    // genre_top renamed away
    let m = err_text(&full.replacen("genre_top", "genre_tip", 1));
    assert!(m.contains("(track, genre_top)"), "{m}");
    // a bad id
    let m = err_text(&full.replacen("\n5,0,", "\nfive,0,", 1));
    assert!(m.contains("five"), "{m}");
}
