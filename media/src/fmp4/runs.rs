//! [`FragmentWriter`]: the segmenter's parts ([`PartRun`]s of access units) as fMP4 fragments.

use bytes::Bytes;

use super::segmenter::{PartRun, PartSample};
use super::{Fmp4Error, G711Storage, Sample, SampleBuilder, TrackRun};
use crate::model::Track;

/// Writes a stream's init segment and its parts as `moof`+`mdat` fragments; used by the LL-HLS
/// muxer and the recorder alike, so a stream is muxed the same way for both.
///
/// A [`SampleBuilder`] per track formats each unit (AVCC/HVCC length prefixes, one sample per
/// AAC/Opus frame, G.711 as FLAC); durations and decode times come from the segmenter, which
/// knows them when a part closes, rescaled to each track's fMP4 timescale.
#[derive(Debug, Default)]
pub struct FragmentWriter {
    g711: G711Storage,
    builders: Vec<SampleBuilder>,
    /// Per track: (clock rate, fMP4 timescale).
    scales: Vec<(u32, u32)>,
}

impl FragmentWriter {
    /// A writer; [`FragmentWriter::init`] sets it up for the stream's tracks.
    pub fn new() -> Self {
        Self::default()
    }

    /// A writer that writes G.711 tracks as `g711` says (FLAC for browsers, raw for recordings).
    pub fn with_g711(g711: G711Storage) -> Self {
        FragmentWriter {
            g711,
            ..Self::default()
        }
    }

    /// The init segment for `tracks` (track ids are indexes plus one); resets the per-track
    /// sample builders.
    pub fn init(&mut self, tracks: &[Track]) -> Result<Bytes, Fmp4Error> {
        let init = super::init_segment_with(tracks, self.g711)?;
        self.builders = tracks
            .iter()
            .map(|t| SampleBuilder::with_g711(t, self.g711))
            .collect();
        self.scales = tracks
            .iter()
            .map(|t| (t.clock_rate.max(1), super::timescale(t).max(1)))
            .collect();
        Ok(init)
    }

    /// One fragment with `sequence_number` in its `mfhd`, as chunks that share the samples'
    /// payload (no copy). Runs of unknown tracks, and runs left without payload, are skipped.
    pub fn fragment(&mut self, sequence_number: u32, runs: &[PartRun]) -> Vec<Bytes> {
        let runs: Vec<TrackRun> = runs.iter().filter_map(|r| self.track_run(r)).collect();
        super::fragment(sequence_number, &runs)
    }

    fn track_run(&mut self, run: &PartRun) -> Option<TrackRun> {
        let &(clock, timescale) = self.scales.get(run.track)?;
        let builder = self.builders.get_mut(run.track)?;
        let scale = |ticks: u64| rescale(ticks, clock, timescale);
        let mut samples: Vec<Sample> = Vec::with_capacity(run.samples.len());
        let mut base = scale(run.base_decode_time);
        let mut start = run.base_decode_time;
        for s in &run.samples {
            let end = start + u64::from(s.duration);
            let duration = u32::try_from(scale(end) - scale(start)).unwrap_or(u32::MAX);
            let before = samples.len();
            append_samples(builder, s, duration, &mut samples);
            if samples.len() == before {
                // No payload: the previous sample lasts longer, or the run starts later.
                match samples.last_mut() {
                    Some(last) => last.duration = last.duration.saturating_add(duration),
                    None => base += u64::from(duration),
                }
            }
            start = end;
        }
        let track_id = u32::try_from(run.track + 1).ok()?;
        (!samples.is_empty()).then_some(TrackRun {
            track_id,
            base_decode_time: base,
            samples,
        })
    }
}

/// The unit's samples (several for multi-frame audio units), sharing `duration` as
/// `SampleBuilder` does: equal shares, the remainder on the last.
fn append_samples(
    builder: &mut SampleBuilder,
    s: &PartSample,
    duration: u32,
    out: &mut Vec<Sample>,
) {
    builder.push(&s.unit);
    builder.flush();
    let first = out.len();
    while let Some((_, sample)) = builder.pull() {
        out.push(sample);
    }
    let made = out.get_mut(first..).unwrap_or_default();
    let count = u32::try_from(made.len()).unwrap_or(u32::MAX).max(1);
    let each = duration / count;
    let last = made.len().saturating_sub(1);
    for (i, sample) in made.iter_mut().enumerate() {
        sample.duration = if i == last {
            duration - each * (count - 1)
        } else {
            each
        };
    }
}

fn rescale(ticks: u64, from: u32, to: u32) -> u64 {
    if from == to {
        return ticks;
    }
    (u128::from(ticks) * u128::from(to) / u128::from(from.max(1))) as u64
}
