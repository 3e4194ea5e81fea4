//! Frame rate and bitrate of each path over the last few seconds, sans-IO: the metrics server
//! samples every path's stream counters once a second and asks for the rates at scrape time.
//!
//! A rate is taken over [`WINDOW_US`] (5 s) once the samples span at least [`MIN_SPAN_US`]
//! (1 s), so two scrapers see the same figure and a scrape never moves it. A count that went
//! down is a new stream (a publisher or source came back): the window starts again.

use std::collections::{HashMap, VecDeque};

/// The window rates are taken over (5 s).
pub(crate) const WINDOW_US: i64 = 5_000_000;
/// The shortest span a rate is given for (1 s).
pub(crate) const MIN_SPAN_US: i64 = 1_000_000;

/// What a stream had received at one instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Count {
    /// Frames of the leading track.
    pub(crate) frames: u64,
    /// Payload bytes of every track.
    pub(crate) bytes: u64,
}

/// Rates of one path.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Rate {
    /// Frames per second of the leading track.
    pub(crate) fps: f64,
    /// Payload bits per second.
    pub(crate) bits_per_second: f64,
}

/// The recent samples of every path.
#[derive(Debug, Default)]
pub(crate) struct Rates {
    paths: HashMap<String, VecDeque<(i64, Count)>>,
}

impl Rates {
    /// Adds the counts of every path with a stream at `now_us`; paths absent are forgotten.
    pub(crate) fn sample(&mut self, now_us: i64, counts: &[(String, Count)]) {
        self.paths
            .retain(|name, _| counts.iter().any(|(n, _)| n == name));
        for (name, count) in counts {
            let window = self.paths.entry(name.clone()).or_default();
            push(window, now_us, *count);
        }
    }

    /// The rates of `path` over the window, once its samples span [`MIN_SPAN_US`].
    pub(crate) fn rate(&self, path: &str) -> Option<Rate> {
        let window = self.paths.get(path)?;
        let (&(t0, c0), &(t1, c1)) = (window.front()?, window.back()?);
        let span_us = t1 - t0;
        if span_us < MIN_SPAN_US {
            return None;
        }
        let per_second = |delta: u64| delta as f64 * 1e6 / span_us as f64;
        Some(Rate {
            fps: per_second(c1.frames - c0.frames),
            bits_per_second: per_second(c1.bytes - c0.bytes) * 8.0,
        })
    }
}

/// Appends a sample, restarting the window on a new stream and dropping samples older than it
/// (the oldest kept is the newest one at least a window old).
fn push(window: &mut VecDeque<(i64, Count)>, now_us: i64, count: Count) {
    let restarted = window
        .back()
        .is_some_and(|&(t, c)| now_us <= t || count.frames < c.frames || count.bytes < c.bytes);
    if restarted {
        window.clear();
    }
    window.push_back((now_us, count));
    while window.get(1).is_some_and(|&(t, _)| now_us - t >= WINDOW_US) {
        window.pop_front();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(frames: u64, bytes: u64) -> Count {
        Count { frames, bytes }
    }

    fn at(rates: &mut Rates, second: i64, frames: u64, bytes: u64) {
        rates.sample(second * 1_000_000, &[("cam".into(), count(frames, bytes))]);
    }

    #[test]
    fn rates_over_the_window_restart_with_a_new_stream_and_forget_gone_paths() {
        let mut rates = Rates::default();
        at(&mut rates, 0, 0, 0);
        assert_eq!(rates.rate("cam"), None, "one sample spans nothing");
        for s in 1..=10 {
            at(&mut rates, s, 25 * s as u64, 125_000 * s as u64);
        }
        let rate = rates.rate("cam").expect("a rate");
        assert_eq!(rate.fps, 25.0);
        assert_eq!(rate.bits_per_second, 1_000_000.0);
        at(&mut rates, 11, 3, 1000);
        assert_eq!(rates.rate("cam"), None, "a new stream starts a new window");
        at(&mut rates, 12, 28, 126_000);
        assert_eq!(rates.rate("cam").map(|r| r.fps), Some(25.0));
        rates.sample(13_000_000, &[]);
        assert_eq!(
            rates.rate("cam"),
            None,
            "a path without a stream is forgotten"
        );
    }
}
