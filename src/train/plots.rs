//! PNG plots of training metrics: per-epoch curves (one per λ replica) and test accuracy
//! against λ with error bars. Plain data in, a PNG file out; nothing here knows the trainer.
//!
//! Drawn with plotters' bitmap backend; text uses DejaVu Sans embedded from
//! `assets/fonts/` (no system fonts or fontconfig needed). Every plot is
//! [`PLOT_WIDTH`] × [`PLOT_HEIGHT`] pixels on a white background.
//!
//! Bad values: points with a NaN or infinite coordinate are skipped (a curve is broken into
//! separate line segments around them, and a point standing alone gets a marker). If nothing
//! is left to draw, the file is still written: the title and the words "no data", so a
//! report that links the image never shows a missing file.

use std::path::Path;
use std::sync::OnceLock;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::{Error, Result};

/// Width of every plot, pixels.
pub const PLOT_WIDTH: u32 = 1024;
/// Height of every plot, pixels.
pub const PLOT_HEIGHT: u32 = 640;

/// The embedded font (DejaVu Sans 2.37; licence in assets/fonts/LICENSE-DejaVu.txt).
static FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");
const FAMILY: &str = "sans-serif";

/// Line colours, cycled per curve (the "tab10" qualitative palette).
const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// Curves with at most this many points also get a marker on every point.
const MARKER_MAX_POINTS: usize = 60;

/// One line of a [`line_plot`]: `points` are `(epoch, value)`; `label` goes in the legend
/// (an empty label leaves the curve out of the legend).
#[derive(Debug, Clone, PartialEq)]
pub struct Curve {
    pub label: String,
    pub points: Vec<(f64, f64)>,
}

/// One λ of a [`lambda_plot`]: the mean and standard deviation of a metric over `n` seeds.
/// `std` NaN (e.g. with n = 1) or 0 draws no error bar.
#[derive(Debug, Clone, PartialEq)]
pub struct LambdaPoint {
    pub lambda: f64,
    pub mean: f64,
    pub std: f64,
    pub n: usize,
}

fn plot_err<E: std::fmt::Display>(path: &Path) -> impl Fn(E) -> Error + '_ {
    move |e| Error::Format(format!("plot {}: {e}", path.display()))
}

/// Registers the embedded font with plotters once per process.
fn ensure_font() -> Result<()> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED
        .get_or_init(|| plotters::style::register_font(FAMILY, FontStyle::Normal, FONT).is_ok());
    if ok {
        Ok(())
    } else {
        Err(Error::Format(
            "plots: the embedded font could not be parsed".into(),
        ))
    }
}

/// Checks that `path` names a PNG and creates its parent folder.
fn prepare(path: &Path) -> Result<()> {
    let is_png = path
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("png"));
    if !is_png {
        return Err(Error::Format(format!(
            "plot {}: the file name must end in .png",
            path.display()
        )));
    }
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
    }
    ensure_font()
}

/// `[lo, hi]` widened by `frac` of its width on each side; a zero-width range is widened to
/// ±5 % of its value (±0.5 around 0). Errors if the width overflows.
fn padded(lo: f64, hi: f64, frac: f64) -> Result<(f64, f64)> {
    let width = hi - lo;
    if !width.is_finite() {
        return Err(Error::Numeric(format!("plot range {lo}..{hi} is too wide")));
    }
    if width > 0.0 {
        Ok((lo - width * frac, hi + width * frac))
    } else {
        let d = if lo != 0.0 { lo.abs() * 0.05 } else { 0.5 };
        Ok((lo - d, hi + d))
    }
}

fn min_max(values: impl Iterator<Item = f64>) -> (f64, f64) {
    values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    })
}

/// The title and a centred "no data" on an otherwise empty plot.
fn draw_no_data(
    root: &DrawingArea<BitMapBackend<'_>, Shift>,
    path: &Path,
    title: &str,
) -> Result<()> {
    let err = plot_err(path);
    let body = root
        .margin(20, 20, 20, 20)
        .titled(title, (FAMILY, 28))
        .map_err(&err)?;
    let (w, h) = body.dim_in_pixel();
    let style = TextStyle::from((FAMILY, 32).into_font()).pos(Pos::new(HPos::Center, VPos::Center));
    body.draw_text("no data", &style, (w as i32 / 2, h as i32 / 2))
        .map_err(&err)?;
    root.present().map_err(&err)
}

/// Splits `points` into runs of consecutive finite points.
fn finite_segments(points: &[(f64, f64)]) -> Vec<Vec<(f64, f64)>> {
    let mut segments = Vec::new();
    let mut current = Vec::new();
    for &(x, y) in points {
        if x.is_finite() && y.is_finite() {
            current.push((x, y));
        } else if !current.is_empty() {
            segments.push(std::mem::take(&mut current));
        }
    }
    if !current.is_empty() {
        segments.push(current);
    }
    segments
}

/// Line plot of several curves (e.g. one per λ replica) with a legend, axis labels and a
/// title, written as a [`PLOT_WIDTH`]×[`PLOT_HEIGHT`] PNG at `path` (which must end in `.png`;
/// its folder is created). Points are `(epoch, value)`; non-finite points are skipped. With no
/// finite point at all the plot says "no data".
pub fn line_plot(
    path: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    curves: &[Curve],
) -> Result<()> {
    prepare(path)?;
    let err = plot_err(path);
    let root = BitMapBackend::new(path, (PLOT_WIDTH, PLOT_HEIGHT)).into_drawing_area();
    root.fill(&WHITE).map_err(&err)?;

    let segments: Vec<Vec<Vec<(f64, f64)>>> =
        curves.iter().map(|c| finite_segments(&c.points)).collect();
    let all = || segments.iter().flatten().flatten();
    if all().next().is_none() {
        return draw_no_data(&root, path, title);
    }
    let (x_lo, x_hi) = min_max(all().map(|p| p.0));
    let (y_lo, y_hi) = min_max(all().map(|p| p.1));
    let (x0, x1) = padded(x_lo, x_hi, 0.02)?;
    let (y0, y1) = padded(y_lo, y_hi, 0.05)?;

    let mut chart = ChartBuilder::on(&root)
        .caption(title, (FAMILY, 28))
        .margin(20)
        .x_label_area_size(55)
        .y_label_area_size(85)
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(&err)?;
    chart
        .configure_mesh()
        .x_desc(x_label)
        .y_desc(y_label)
        .label_style((FAMILY, 16))
        .axis_desc_style((FAMILY, 20))
        .light_line_style(RGBColor(235, 235, 235))
        .draw()
        .map_err(&err)?;

    let mut any_label = false;
    for (i, (curve, segs)) in curves.iter().zip(&segments).enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        let n_points: usize = segs.iter().map(Vec::len).sum();
        let mut labelled = curve.label.is_empty();
        for seg in segs {
            let drawn = chart
                .draw_series(LineSeries::new(seg.iter().copied(), color.stroke_width(2)))
                .map_err(&err)?;
            if !labelled {
                drawn.label(curve.label.as_str()).legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 24, y)], color.stroke_width(3))
                });
                labelled = true;
                any_label = true;
            }
            if seg.len() == 1 || n_points <= MARKER_MAX_POINTS {
                chart
                    .draw_series(seg.iter().map(|&p| Circle::new(p, 3, color.filled())))
                    .map_err(&err)?;
            }
        }
    }

    if any_label {
        // Put the legend where the curves are not: curves that end high (accuracy) leave the
        // lower right free, curves that end low (loss) the upper right.
        let ends: Vec<f64> = segments
            .iter()
            .filter_map(|s| s.last().and_then(|s| s.last()))
            .map(|p| (p.1 - y0) / (y1 - y0))
            .collect();
        let mean_end = ends.iter().sum::<f64>() / ends.len().max(1) as f64;
        let position = if mean_end > 0.5 {
            SeriesLabelPosition::LowerRight
        } else {
            SeriesLabelPosition::UpperRight
        };
        chart
            .configure_series_labels()
            .position(position)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .label_font((FAMILY, 16))
            .draw()
            .map_err(&err)?;
    }
    root.present().map_err(&err)
}

/// Rounds to 5 significant digits and prints the shortest form ("0.003", "1e-6").
fn format_lambda(v: f64) -> String {
    let r: f64 = format!("{v:.4e}").parse().unwrap_or(v);
    if (1e-4..1e5).contains(&r) {
        format!("{r}")
    } else {
        format!("{r:e}")
    }
}

/// Test accuracy (or any metric) against λ with error bars of ±1 `std`, written as a
/// [`PLOT_WIDTH`]×[`PLOT_HEIGHT`] PNG at `path` (must end in `.png`; its folder is created).
///
/// The λ axis is logarithmic (position log10 λ) and still shows λ = 0: it is drawn one decade
/// left of the smallest positive λ and labelled "0" (with only λ = 0 present, at position 0).
/// Tick labels sit at the λ values present (at whole decades when there are more than 10).
/// Each point is labelled with its number of seeds `n`. Points with a non-finite or negative
/// λ, or a non-finite mean, are skipped; with none left the plot says "no data".
pub fn lambda_plot(path: &Path, title: &str, y_label: &str, points: &[LambdaPoint]) -> Result<()> {
    prepare(path)?;
    let err = plot_err(path);
    let root = BitMapBackend::new(path, (PLOT_WIDTH, PLOT_HEIGHT)).into_drawing_area();
    root.fill(&WHITE).map_err(&err)?;

    let pts: Vec<&LambdaPoint> = points
        .iter()
        .filter(|p| p.lambda.is_finite() && p.lambda >= 0.0 && p.mean.is_finite())
        .collect();
    if pts.is_empty() {
        return draw_no_data(&root, path, title);
    }
    let min_pos = pts
        .iter()
        .map(|p| p.lambda)
        .filter(|&l| l > 0.0)
        .fold(f64::INFINITY, f64::min);
    let zero_x = if min_pos.is_finite() {
        min_pos.log10() - 1.0
    } else {
        0.0
    };
    let has_zero = pts.iter().any(|p| p.lambda == 0.0);
    let xpos = |l: f64| if l == 0.0 { zero_x } else { l.log10() };
    let half_bar = |p: &LambdaPoint| {
        if p.std.is_finite() && p.std > 0.0 {
            p.std
        } else {
            0.0
        }
    };

    // (x, mean, std, n), sorted by x.
    let mut data: Vec<(f64, f64, f64, usize)> = pts
        .iter()
        .map(|p| (xpos(p.lambda), p.mean, half_bar(p), p.n))
        .collect();
    data.sort_by(|a, b| a.0.total_cmp(&b.0));

    let (x_lo, x_hi) = min_max(data.iter().map(|d| d.0));
    let (y_lo, y_hi) = min_max(data.iter().flat_map(|d| [d.1 - d.2, d.1 + d.2]));
    let (x0, x1) = (x_lo - 0.5, x_hi + 0.5);
    let (y0, y1) = padded(y_lo, y_hi, 0.08)?;

    let mut keys: Vec<f64> = data.iter().map(|d| d.0).collect();
    keys.dedup_by(|a, b| (*a - *b).abs() < 1e-9);
    if keys.len() > 10 {
        keys = (x0.ceil() as i64..=x1.floor() as i64)
            .map(|k| k as f64)
            .filter(|&k| !has_zero || k > zero_x + 0.5)
            .collect();
        if has_zero {
            keys.insert(0, zero_x);
        }
    }
    let x_label_of = |x: f64| {
        if has_zero && (x - zero_x).abs() < 1e-9 {
            "0".to_string()
        } else {
            format_lambda(10f64.powf(x))
        }
    };

    let mut chart = ChartBuilder::on(&root)
        .caption(title, (FAMILY, 28))
        .margin(20)
        .x_label_area_size(55)
        .y_label_area_size(85)
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(&err)?;
    let x_desc = if has_zero && min_pos.is_finite() {
        "λ (log scale; λ = 0 drawn one decade left of the smallest λ > 0)"
    } else {
        "λ (log scale)"
    };
    // plotters picks "nice" linear ticks; the λ axis needs ticks at chosen positions with
    // their own labels, so the x ticks, grid lines and labels are drawn by hand below.
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(0)
        .x_desc(x_desc)
        .y_desc(y_label)
        .label_style((FAMILY, 16))
        .axis_desc_style((FAMILY, 20))
        .light_line_style(RGBColor(235, 235, 235))
        .draw()
        .map_err(&err)?;
    let grid = RGBColor(220, 220, 220).stroke_width(1);
    chart
        .draw_series(
            keys.iter()
                .map(|&k| PathElement::new(vec![(k, y0), (k, y1)], grid)),
        )
        .map_err(&err)?;
    let tick_style =
        TextStyle::from((FAMILY, 16).into_font()).pos(Pos::new(HPos::Center, VPos::Top));
    for &k in &keys {
        let (px, py) = chart.backend_coord(&(k, y0));
        root.draw(&PathElement::new(
            vec![(px, py), (px, py + 5)],
            BLACK.stroke_width(1),
        ))
        .map_err(&err)?;
        root.draw_text(&x_label_of(k), &tick_style, (px, py + 8))
            .map_err(&err)?;
    }

    let color = PALETTE[0];
    chart
        .draw_series(LineSeries::new(
            data.iter().map(|d| (d.0, d.1)),
            color.stroke_width(2),
        ))
        .map_err(&err)?;
    let cap = 0.012 * (x1 - x0);
    for &(x, m, s, _) in data.iter().filter(|d| d.2 > 0.0) {
        let bar = color.stroke_width(2);
        chart
            .draw_series([
                PathElement::new(vec![(x, m - s), (x, m + s)], bar),
                PathElement::new(vec![(x - cap, m - s), (x + cap, m - s)], bar),
                PathElement::new(vec![(x - cap, m + s), (x + cap, m + s)], bar),
            ])
            .map_err(&err)?;
    }
    chart
        .draw_series(data.iter().map(|&(x, m, _, n)| {
            EmptyElement::at((x, m))
                + Circle::new((0, 0), 5, color.filled())
                + Text::new(format!("n={n}"), (8, -20), (FAMILY, 14).into_font())
        }))
        .map_err(&err)?;
    root.present().map_err(&err)
}
