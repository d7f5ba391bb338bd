//! PNG plots: files are written, decode as PNGs of the documented size, and carry curve
//! pixels (the palette colour) inside the plotting area; edge cases (NaN, one point, no data)
//! still give a file. The images are left in target/tmp/sinks_plots/ for a person to look at.

use std::path::PathBuf;

use recaux::train::plots::{Curve, LambdaPoint, PLOT_HEIGHT, PLOT_WIDTH, lambda_plot, line_plot};

/// First two colours of the "tab10" palette that plots.rs cycles through (its source).
const BLUE: [u8; 3] = [31, 119, 180];
const ORANGE: [u8; 3] = [255, 127, 14];

fn out(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("sinks_plots");
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    let _ = std::fs::remove_file(&p);
    p
}

/// A decoded RGB image.
struct Image {
    w: usize,
    h: usize,
    rgb: Vec<u8>,
}

impl Image {
    fn px(&self, x: usize, y: usize) -> [u8; 3] {
        let i = 3 * (y * self.w + x);
        [self.rgb[i], self.rgb[i + 1], self.rgb[i + 2]]
    }
    /// Pixels within the plotting area whose colour is within 12 per channel of `c`
    /// (slack for antialiased edges), as (x, y).
    fn matching(&self, c: [u8; 3]) -> Vec<(usize, usize)> {
        let (x0, x1, y0, y1) = data_area();
        let mut v = Vec::new();
        for y in y0..y1 {
            for x in x0..x1 {
                let p = self.px(x, y);
                if (0..3).all(|k| p[k].abs_diff(c[k]) <= 12) {
                    v.push((x, y));
                }
            }
        }
        v
    }
}

/// The plotting area, pixels, from the layout in plots.rs: margin 20, y label area 85,
/// x label area 55, caption ~40 px high. Shrunk by a few pixels so axes are outside it.
fn data_area() -> (usize, usize, usize, usize) {
    (110, PLOT_WIDTH as usize - 24, 70, PLOT_HEIGHT as usize - 80)
}

/// Checks the PNG signature and IHDR size by hand, then decodes with the png crate.
fn read_png(path: &PathBuf) -> Image {
    let bytes = std::fs::read(path).expect("plot file exists");
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "PNG signature");
    assert_eq!(&bytes[12..16], b"IHDR");
    let w = u32::from_be_bytes(bytes[16..20].try_into().unwrap());
    let h = u32::from_be_bytes(bytes[20..24].try_into().unwrap());
    assert_eq!((w, h), (PLOT_WIDTH, PLOT_HEIGHT), "IHDR size");

    let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    let mut reader = decoder.read_info().expect("png header");
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).expect("png data");
    assert_eq!(info.bit_depth, png::BitDepth::Eight);
    let ch = match info.color_type {
        png::ColorType::Rgb => 3,
        png::ColorType::Rgba => 4,
        other => panic!("unexpected colour type {other:?}"),
    };
    let rgb = buf[..info.buffer_size()]
        .chunks(ch)
        .flat_map(|p| [p[0], p[1], p[2]])
        .collect();
    Image {
        w: info.width as usize,
        h: info.height as usize,
        rgb,
    }
}

fn extent(px: &[(usize, usize)]) -> (usize, usize, usize, usize) {
    let xs = px.iter().map(|p| p.0);
    let ys = px.iter().map(|p| p.1);
    (
        xs.clone().min().unwrap(),
        xs.max().unwrap(),
        ys.clone().min().unwrap(),
        ys.max().unwrap(),
    )
}

fn loss_curve(label: &str, scale: f64) -> Curve {
    Curve {
        label: label.to_string(),
        points: (1..=30)
            .map(|e| (e as f64, scale * (2.3 * (-0.1 * e as f64).exp() + 0.2)))
            .collect(),
    }
}

#[test]
fn line_plot_draws_every_curve() {
    let path = out("line_two_curves.png");
    let curves = [loss_curve("λ = 0", 1.0), loss_curve("λ = 0.1", 1.3)];
    line_plot(&path, "train loss", "epoch", "loss", &curves).expect("plot");
    let img = read_png(&path);
    assert_eq!((img.w, img.h), (1024, 640));
    let blue = img.matching(BLUE);
    let orange = img.matching(ORANGE);
    assert!(blue.len() > 500, "blue curve pixels: {}", blue.len());
    assert!(orange.len() > 500, "orange curve pixels: {}", orange.len());
    // The curves span most of the plot's width (x padding is 2 % per side).
    let (bx0, bx1, _, _) = extent(&blue);
    assert!(bx1 - bx0 > 700, "blue spans x {bx0}..{bx1}");
    // Loss falls: the curve's left end is higher on screen (smaller y) than its right end.
    let left_y = blue
        .iter()
        .filter(|p| p.0 < bx0 + 10)
        .map(|p| p.1)
        .min()
        .unwrap();
    let right_y = blue
        .iter()
        .filter(|p| p.0 > bx1 - 10)
        .map(|p| p.1)
        .min()
        .unwrap();
    assert!(
        left_y + 100 < right_y,
        "left end y {left_y}, right end y {right_y}"
    );
}

#[test]
fn line_plot_skips_nan_and_draws_a_single_point() {
    let path = out("line_nan_single.png");
    let mut with_gap = loss_curve("with NaN", 1.0);
    with_gap.points[10].1 = f64::NAN;
    with_gap.points[11].0 = f64::INFINITY;
    let single = Curve {
        label: "one point".into(),
        points: vec![(f64::NAN, 1.0), (5.0, 1.5)],
    };
    line_plot(
        &path,
        "gap and single",
        "epoch",
        "loss",
        &[with_gap, single],
    )
    .expect("plot");
    let img = read_png(&path);
    assert!(img.matching(BLUE).len() > 400);
    // The single point is a filled marker of radius 3: at least a few pixels.
    // The legend (upper right, x > 800 px) also has an orange line; leave it out.
    let orange: Vec<_> = img
        .matching(ORANGE)
        .into_iter()
        .filter(|p| p.0 < 800)
        .collect();
    assert!(
        orange.len() >= 9,
        "single-point marker pixels: {}",
        orange.len()
    );
    let (x0, x1, y0, y1) = extent(&orange);
    assert!(
        x1 - x0 <= 12 && y1 - y0 <= 12,
        "marker is compact: {x0}..{x1}, {y0}..{y1}"
    );
}

#[test]
fn empty_input_writes_a_no_data_plot() {
    for (name, curves) in [
        ("line_empty.png", vec![]),
        (
            "line_all_nan.png",
            vec![Curve {
                label: "nan".into(),
                points: vec![(1.0, f64::NAN), (f64::NAN, 2.0)],
            }],
        ),
    ] {
        let path = out(name);
        line_plot(&path, "nothing yet", "epoch", "loss", &curves).expect("plot");
        let img = read_png(&path);
        assert!(img.matching(BLUE).is_empty(), "{name}: no curve pixels");
        // "no data" is black text around the centre.
        let (cx, cy) = (img.w / 2, img.h / 2);
        let dark = (cy - 40..cy + 40)
            .flat_map(|y| (cx - 120..cx + 120).map(move |x| (x, y)))
            .filter(|&(x, y)| img.px(x, y).iter().all(|&c| c < 100))
            .count();
        assert!(dark > 50, "{name}: dark text pixels near centre: {dark}");
    }
    let path = out("lambda_empty.png");
    lambda_plot(&path, "nothing", "acc", &[]).expect("plot");
    assert!(read_png(&path).matching(BLUE).is_empty());
}

#[test]
fn plot_path_must_be_png() {
    let path = out("not_a_png.jpg");
    let err = line_plot(&path, "t", "x", "y", &[loss_curve("a", 1.0)]).unwrap_err();
    assert!(err.to_string().contains(".png"), "{err}");
    assert!(!path.exists());
}

fn lp(lambda: f64, mean: f64, std: f64) -> LambdaPoint {
    LambdaPoint {
        lambda,
        mean,
        std,
        n: 3,
    }
}

#[test]
fn lambda_plot_with_error_bars() {
    let path = out("lambda_sweep.png");
    let pts = [
        lp(0.0, 0.52, 0.02),
        lp(0.001, 0.55, 0.015),
        lp(0.01, 0.58, 0.03),
        lp(0.1, 0.54, 0.01),
        lp(1.0, 0.41, 0.05),
        lp(f64::NAN, 0.9, 0.0),
        lp(0.3, f64::NAN, 0.0),
    ];
    lambda_plot(&path, "test accuracy vs λ", "test accuracy", &pts).expect("plot");
    let img = read_png(&path);
    let blue = img.matching(BLUE);
    assert!(blue.len() > 500, "blue pixels: {}", blue.len());
    // λ = 0 sits one decade left of 0.001: five equally spaced positions spanning 4 of the 5
    // decades of the axis (0.5 decade of padding per side), so the markers cover ~80 % of the
    // plotting area's ~900 px width.
    let (x0, x1, _, _) = extent(&blue);
    assert!((650..=800).contains(&(x1 - x0)), "blue spans x {x0}..{x1}");
}

#[test]
fn lambda_plot_places_zero_one_decade_left() {
    // λ = 0 and λ = 1 only: 0 goes at log position -1, 1 at 0, padding 0.5 either side, so the
    // two markers sit at 1/4 and 3/4 of the plotting area (~899 px wide, from x ≈ 105).
    let path = out("lambda_zero_and_one.png");
    lambda_plot(
        &path,
        "two points",
        "acc",
        &[lp(0.0, 0.5, 0.0), lp(1.0, 0.5, 0.0)],
    )
    .expect("plot");
    let blue = read_png(&path).matching(BLUE);
    let (x0, x1, _, _) = extent(&blue);
    let centre = (x0 + x1) / 2;
    assert!((540..=570).contains(&centre), "centre x {centre}");
    assert!((430..=490).contains(&(x1 - x0)), "span {x0}..{x1}");
}

#[test]
fn lambda_plot_error_bar_height_follows_std() {
    let tall = out("lambda_tall_bar.png");
    let flat = out("lambda_no_bar.png");
    // One λ, so the y range is the bar itself (±std, padded 8 %): the bar fills most of the
    // plot's height. With std NaN (one seed) there is no bar, only the 10 px marker.
    lambda_plot(&tall, "bar", "acc", &[lp(0.01, 0.5, 0.1)]).expect("plot");
    lambda_plot(&flat, "no bar", "acc", &[lp(0.01, 0.5, f64::NAN)]).expect("plot");
    let (_, _, ty0, ty1) = extent(&read_png(&tall).matching(BLUE));
    let (_, _, fy0, fy1) = extent(&read_png(&flat).matching(BLUE));
    assert!(ty1 - ty0 > 350, "bar height {}", ty1 - ty0);
    assert!(fy1 - fy0 < 15, "marker height {}", fy1 - fy0);
}
