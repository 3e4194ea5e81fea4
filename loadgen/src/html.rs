//! The self-contained HTML report: a summary table and inline SVG plots (no script, no CDN).

use std::fmt::Write;

use crate::report::{Report, Second};

/// One line of a plot: a name, a CSS colour, and (x, y) points.
pub struct Line<'a> {
    /// Legend text.
    pub name: &'a str,
    /// CSS colour.
    pub color: &'a str,
    /// Points in data coordinates.
    pub points: Vec<(f64, f64)>,
    /// Draw the points as dots (a scatter plot) instead of joining them.
    pub dots: bool,
}

const W: f64 = 640.0;
const H: f64 = 260.0;
const PAD: f64 = 48.0;

/// A value of one second of the series, `None` when there is none to plot.
type Field = fn(&Second) -> Option<f64>;

/// What a plot's x axis is.
#[derive(Clone, Copy)]
enum XAxis {
    /// Seconds since the start (lines).
    Time,
    /// Cameras up (dots: several seconds share a camera count).
    Cameras,
}

/// One plot of the HTML report: title, x axis, y label, and (legend, colour, field) per line.
struct PlotSpec {
    title: &'static str,
    x: XAxis,
    y_label: &'static str,
    lines: &'static [(&'static str, &'static str, Field)],
}

const PLOTS: &[PlotSpec] = &[
    PlotSpec {
        title: "Latency over time",
        x: XAxis::Time,
        y_label: "ms",
        lines: &[
            ("p50", "#1a7f37", |s| latency(s, s.latency.p50_ms)),
            ("p90", "#bf8700", |s| latency(s, s.latency.p90_ms)),
            ("p99", "#cf222e", |s| latency(s, s.latency.p99_ms)),
        ],
    },
    PlotSpec {
        title: "CPU vs cameras",
        x: XAxis::Cameras,
        y_label: "% of one core",
        lines: &[
            ("server", "#0969da", |s| s.server_cpu_pct),
            ("loadgen", "#8250df", |s| Some(s.loadgen_cpu_pct)),
        ],
    },
    PlotSpec {
        title: "RSS vs cameras",
        x: XAxis::Cameras,
        y_label: "MiB",
        lines: &[
            ("server", "#0969da", |s| s.server_rss_mib),
            ("loadgen", "#8250df", |s| Some(s.loadgen_rss_mib)),
        ],
    },
    PlotSpec {
        title: "Cameras and readers over time",
        x: XAxis::Time,
        y_label: "count",
        lines: &[
            ("cameras", "#0969da", |s| Some(s.cameras as f64)),
            ("readers", "#1a7f37", |s| Some(s.readers as f64)),
        ],
    },
];

const HEAD: &str = "<!doctype html><meta charset=utf-8><title>vigia-loadgen report</title>\
    <style>body{font:14px sans-serif;margin:2em}svg{border:1px solid #ddd;margin:8px 0}\
    pre{white-space:pre-wrap}</style><h1>vigia-loadgen report</h1>";

/// The report as one HTML page.
pub fn render(r: &Report) -> String {
    let mut out = String::from(HEAD);
    let _ = write!(out, "<pre>{}</pre>", escape(&summary_text(r)));
    for spec in PLOTS {
        let lines: Vec<Line<'_>> = spec
            .lines
            .iter()
            .map(|&(name, color, field)| Line {
                name,
                color,
                points: points(&r.series, spec.x, field),
                dots: matches!(spec.x, XAxis::Cameras),
            })
            .collect();
        let x_label = match spec.x {
            XAxis::Time => "s",
            XAxis::Cameras => "cameras",
        };
        out += &plot(spec.title, x_label, spec.y_label, &lines);
    }
    out
}

fn points(series: &[Second], x: XAxis, field: Field) -> Vec<(f64, f64)> {
    let x_of = |s: &Second| match x {
        XAxis::Time => s.t_s,
        XAxis::Cameras => s.cameras as f64,
    };
    series
        .iter()
        .filter_map(|s| Some((x_of(s), field(s)?)))
        .collect()
}

/// A latency figure of a second that has samples.
fn latency(s: &Second, value: f64) -> Option<f64> {
    (s.latency.samples > 0).then_some(value)
}

/// The summary as text (also the end-of-run console output).
pub fn summary_text(r: &Report) -> String {
    let s = &r.summary;
    let mut out = String::new();
    let o = &r.options;
    let _ = writeln!(
        out,
        "{} cameras × {} readers ({:?} readers, {:?} publish) on {}, {:.0} s",
        o.cameras,
        o.readers_per_camera,
        o.protocol,
        o.transport,
        o.target,
        r.series.last().map_or(0.0, |x| x.t_s)
    );
    for (proto, p) in &s.latency {
        let _ = writeln!(
            out,
            "latency {proto}: p50 {:.1} ms  p90 {:.1} ms  p95 {:.1} ms  p99 {:.1} ms  max {:.1} ms  \
             ({} samples)",
            p.p50_ms, p.p90_ms, p.p95_ms, p.p99_ms, p.max_ms, p.samples
        );
    }
    let _ = writeln!(
        out,
        "frames sent {} received {} (catch-up {}, unstamped {}); gaps {} stalls {} errors {}; \
         {:.1} MB received",
        s.frames_sent,
        s.frames_received,
        s.frames_catchup,
        s.frames_unstamped,
        s.gaps,
        s.stalls,
        s.errors,
        s.bytes_received as f64 / 1e6
    );
    if let Some(v) = &s.server {
        let _ = writeln!(
            out,
            "server pid {}: {:.3} CPU-s per stream-minute, {:.1} % of a core at full load, \
             RSS {:.0} → {:.0} MiB ({:.2} MiB per camera)",
            v.pid,
            v.cpu_s_per_stream_minute,
            v.cpu_pct_full_load,
            v.rss_start_mib,
            v.rss_peak_mib,
            v.rss_per_camera_mib
        );
        if v.readers_per_core > 0.0 {
            let _ = writeln!(
                out,
                "server with every reader up: {:.1} % of a core, {:.0} readers per core, \
                 {:.3} MiB per reader",
                v.cpu_pct_all_readers_up, v.readers_per_core, v.rss_per_reader_mib
            );
        }
    }
    let _ = writeln!(
        out,
        "loadgen: {:.3} CPU-s per stream-minute, RSS {:.0} MiB; {}",
        s.loadgen.cpu_s_per_stream_minute, s.loadgen.rss_peak_mib, s.loadgen.verdict
    );
    out
}

/// An SVG line plot with axes from 0 to the largest value, ticks at quarters, and a legend.
pub fn plot(title: &str, x_label: &str, y_label: &str, lines: &[Line<'_>]) -> String {
    let all = lines.iter().flat_map(|l| l.points.iter());
    let (x_max, y_max) = all.fold((0.0f64, 0.0f64), |(a, b), &(x, y)| (a.max(x), b.max(y)));
    let (x_max, y_max) = (nice(x_max), nice(y_max));
    let sx = |x: f64| PAD + (W - 2.0 * PAD) * x / x_max;
    let sy = |y: f64| H - PAD - (H - 2.0 * PAD) * y / y_max;
    let mut svg = format!(
        "<h2>{}</h2><svg xmlns='http://www.w3.org/2000/svg' width='{W}' height='{H}' \
         font-size='11'><rect width='{W}' height='{H}' fill='white'/>",
        escape(title)
    );
    for i in 0..=4 {
        let (xv, yv) = (x_max * f64::from(i) / 4.0, y_max * f64::from(i) / 4.0);
        let _ = write!(
            svg,
            "<line x1='{PAD}' x2='{}' y1='{y:.1}' y2='{y:.1}' stroke='#eee'/>\
             <text x='{}' y='{:.1}' text-anchor='end'>{}</text>\
             <text x='{:.1}' y='{}' text-anchor='middle'>{}</text>",
            W - PAD,
            PAD - 4.0,
            sy(yv) + 4.0,
            short(yv),
            sx(xv),
            H - PAD + 14.0,
            short(xv),
            y = sy(yv)
        );
    }
    let _ = write!(
        svg,
        "<text x='{}' y='{}' text-anchor='middle'>{}</text><text x='8' y='{}'>{}</text>",
        W / 2.0,
        H - 8.0,
        escape(x_label),
        PAD - 12.0,
        escape(y_label)
    );
    for (i, l) in lines.iter().enumerate() {
        svg += &polyline(l, &sx, &sy);
        let _ = write!(
            svg,
            "<text x='{}' y='{}' fill='{}'>{}</text>",
            W - PAD - 80.0,
            PAD + 14.0 * i as f64,
            l.color,
            escape(l.name)
        );
    }
    svg + "</svg>"
}

fn polyline(l: &Line<'_>, sx: &dyn Fn(f64) -> f64, sy: &dyn Fn(f64) -> f64) -> String {
    if l.dots {
        return l
            .points
            .iter()
            .map(|&(x, y)| {
                format!(
                    "<circle cx='{:.1}' cy='{:.1}' r='2' fill='{}'/>",
                    sx(x),
                    sy(y),
                    l.color
                )
            })
            .collect();
    }
    let pts: Vec<String> = l
        .points
        .iter()
        .map(|&(x, y)| format!("{:.1},{:.1}", sx(x), sy(y)))
        .collect();
    format!(
        "<polyline fill='none' stroke='{}' stroke-width='1.5' points='{}'/>",
        l.color,
        pts.join(" ")
    )
}

/// The smallest of 1, 2, 5 × 10^k at or above `v` (1 for non-positive values).
fn nice(v: f64) -> f64 {
    if v <= 0.0 || !v.is_finite() {
        return 1.0;
    }
    let mag = 10f64.powf(v.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * mag)
        .find(|&c| c >= v)
        .unwrap_or(10.0 * mag)
}

/// An axis label: up to two decimals, trailing zeros dropped.
fn short(v: f64) -> String {
    let text = format!("{v:.2}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nice_axis_maxima() {
        for (v, want) in [
            (0.0, 1.0),
            (0.7, 1.0),
            (3.0, 5.0),
            (120.0, 200.0),
            (500.0, 500.0),
        ] {
            assert_eq!(nice(v), want, "{v}");
        }
    }

    #[test]
    fn axis_labels() {
        for (v, want) in [
            (0.0, "0"),
            (0.25, "0.25"),
            (0.5, "0.5"),
            (125.0, "125"),
            (37.5, "37.5"),
        ] {
            assert_eq!(short(v), want);
        }
    }

    #[test]
    fn plot_is_self_contained_svg() {
        let svg = plot(
            "t<1>",
            "s",
            "ms",
            &[Line {
                name: "p50",
                color: "red",
                points: vec![(0.0, 1.0), (10.0, 3.0)],
                dots: false,
            }],
        );
        assert!(svg.contains("<svg") && svg.ends_with("</svg>"));
        assert!(svg.contains("t&lt;1&gt;"));
        assert!(svg.contains("<polyline") && !svg.contains("<script"));
    }
}
