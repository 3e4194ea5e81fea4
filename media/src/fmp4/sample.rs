//! Access units → fMP4 samples, one builder per track.

use std::collections::VecDeque;

use bytes::{BufMut, Bytes, BytesMut};

use super::fragment::Sample;
use super::{G711Storage, timescale};
use crate::codec::{flac, g711};
use crate::model::{AccessUnit, CodecParams, Track, leading_bytes};

/// Turns one track's [`AccessUnit`]s into [`Sample`]s, in the track's fMP4 timescale
/// ([`super::timescale`]).
///
/// Push/pull: [`SampleBuilder::push`] a unit, then [`SampleBuilder::pull`] until `None`. A
/// sample's duration is the next unit's DTS minus its own, so a unit's samples come out when
/// the next unit is pushed (or on [`SampleBuilder::flush`]). Each pulled sample comes with its
/// decode time, which the caller uses as the `tfdt` of the fragment it starts. Decode times are
/// the units' DTS rescaled, unshifted: they may be negative (a B-frame stream's first DTS) and
/// the caller, who aligns all tracks, maps them to the unsigned `tfdt`.
///
/// Per codec:
/// - H.264/H.265: one sample per unit, each NAL unit preceded by its 4-byte length (AVCC/HVCC,
///   ISO/IEC 14496-15 §5.3.2). The prefixes of a unit share one small buffer and are interleaved
///   with the NAL `Bytes` themselves: no payload copy. Access unit delimiters and empty NAL
///   units are dropped (meaningless in MP4). Parameter sets are kept in-band as received, so a
///   mid-stream SPS/PPS change still decodes even before a new init segment is fetched; the
///   init segment carries them too (`avc1`/`hvc1`).
/// - AAC, Opus: one sample per frame (chunk of the unit); a unit of k frames is split into k
///   samples of equal duration (the remainder on the last).
/// - G.711: the unit's bytes decoded to 16-bit PCM and encoded as one FLAC frame
///   ([`flac::encode_frame`]): a copy, unavoidable for a transcode.
///
/// Units whose payload turns out empty are skipped; the previous sample then lasts until the
/// next non-empty unit. A DTS that goes backwards gives the previous sample duration 0.
#[derive(Debug)]
pub struct SampleBuilder {
    codec: Codec,
    timescale: u32,
    pending: Option<Pending>,
    ready: VecDeque<(i64, Sample)>,
    last_duration: u32,
    flac_next_sample: u64,
    pcm: Vec<i16>,
}

#[derive(Debug)]
enum Codec {
    Avc,
    Hevc,
    Frames,
    G711 {
        mu_law: bool,
        channels: u16,
        sample_rate: u32,
    },
    /// G.711 kept as received: one sample per unit, its chunks as they are.
    G711Raw,
}

/// A unit waiting for the next DTS.
#[derive(Debug)]
struct Pending {
    dts: i64,
    composition_offset: i32,
    keyframe: bool,
    data: Vec<Bytes>,
    /// Each chunk of `data` is its own sample (audio frames).
    split: bool,
}

impl SampleBuilder {
    /// A builder for `track`.
    pub fn new(track: &Track) -> Self {
        Self::with_g711(track, G711Storage::Flac)
    }

    /// A builder for `track` writing G.711 as `g711` says (the init segment must agree).
    pub fn with_g711(track: &Track, g711: G711Storage) -> Self {
        let codec = match &track.codec {
            CodecParams::G711(_) if g711 == G711Storage::Raw => Codec::G711Raw,
            CodecParams::H264(_) => Codec::Avc,
            CodecParams::H265(_) => Codec::Hevc,
            CodecParams::Aac(_) | CodecParams::Opus(_) => Codec::Frames,
            CodecParams::G711(g) => Codec::G711 {
                mu_law: g.mu_law,
                channels: g.channels.clamp(1, 8),
                sample_rate: g.sample_rate,
            },
        };
        Self {
            codec,
            timescale: timescale(track),
            pending: None,
            ready: VecDeque::new(),
            last_duration: 0,
            flac_next_sample: 0,
            pcm: Vec::new(),
        }
    }

    /// Takes the next unit; the previous unit's samples become ready to [`SampleBuilder::pull`].
    pub fn push(&mut self, au: &AccessUnit) {
        let dts = au.dts.rescale(self.timescale).ticks;
        let pts = au.pts.rescale(self.timescale).ticks;
        let Some(data) = self.payload(au) else {
            return;
        };
        if let Some(prev) = self.pending.take() {
            let duration = u32::try_from(dts.saturating_sub(prev.dts).max(0)).unwrap_or(u32::MAX);
            self.emit(prev, duration);
        }
        let offset = pts
            .saturating_sub(dts)
            .clamp(i64::from(i32::MIN), i64::from(i32::MAX));
        self.pending = Some(Pending {
            dts,
            composition_offset: offset as i32,
            keyframe: au.keyframe || !matches!(self.codec, Codec::Avc | Codec::Hevc),
            data,
            split: matches!(self.codec, Codec::Frames),
        });
    }

    /// The next ready sample and its decode time (track timescale), oldest first.
    pub fn pull(&mut self) -> Option<(i64, Sample)> {
        self.ready.pop_front()
    }

    /// Ends the pending unit without waiting for the next one, giving it the previous unit's
    /// duration (0 if there was none): for the end of a stream.
    pub fn flush(&mut self) {
        if let Some(prev) = self.pending.take() {
            self.emit(prev, self.last_duration);
        }
    }

    /// Decode time (track timescale) of the unit waiting for its successor, if any.
    pub fn pending_decode_time(&self) -> Option<i64> {
        self.pending.as_ref().map(|p| p.dts)
    }

    fn payload(&mut self, au: &AccessUnit) -> Option<Vec<Bytes>> {
        let data = match self.codec {
            Codec::Avc => length_prefixed(au, |n| n & 0x1F == 9),
            Codec::Hevc => length_prefixed(au, |n| (n >> 1) & 0x3F == 35),
            Codec::Frames => au.data.iter().filter(|f| !f.is_empty()).cloned().collect(),
            Codec::G711 { .. } => self.flac_frame(&au.data).into_iter().collect(),
            Codec::G711Raw => au.data.iter().filter(|c| !c.is_empty()).cloned().collect(),
        };
        (!data.is_empty()).then_some(data)
    }

    fn flac_frame(&mut self, chunks: &[Bytes]) -> Option<Bytes> {
        let Codec::G711 {
            mu_law,
            channels,
            sample_rate,
        } = self.codec
        else {
            return None;
        };
        self.pcm.clear();
        for c in chunks {
            g711::decode(mu_law, c, &mut self.pcm);
        }
        let frame = flac::encode_frame(&self.pcm, channels, sample_rate, self.flac_next_sample)?;
        let per_channel = (self.pcm.len() / usize::from(channels)).min(flac::MAX_BLOCK_SIZE);
        self.flac_next_sample += per_channel as u64;
        Some(frame)
    }

    fn emit(&mut self, unit: Pending, duration: u32) {
        self.last_duration = duration;
        if !unit.split || unit.data.len() == 1 {
            let sample = Sample {
                duration,
                composition_offset: unit.composition_offset,
                keyframe: unit.keyframe,
                // One frame: its chunk list moves as is (no new allocation).
                data: unit.data,
            };
            self.ready.push_back((unit.dts, sample));
            return;
        }
        let count = u32::try_from(unit.data.len()).unwrap_or(u32::MAX).max(1);
        let each = duration / count;
        let mut dts = unit.dts;
        let last = unit.data.len().saturating_sub(1);
        for (i, frame) in unit.data.into_iter().enumerate() {
            let d = if i == last {
                duration - each * (count - 1)
            } else {
                each
            };
            let sample = Sample {
                duration: d,
                composition_offset: unit.composition_offset,
                keyframe: true,
                data: vec![frame],
            };
            self.ready.push_back((dts, sample));
            dts += i64::from(d);
        }
    }
}

/// AVCC/HVCC sample data: a 4-byte length before each NAL unit, `skip` NAL units (by first
/// header byte) and empty ones left out. The prefixes are slices of one buffer.
fn length_prefixed(au: &AccessUnit, skip: impl Fn(u8) -> bool) -> Vec<Bytes> {
    let keep = |n: &&[Bytes]| {
        let (header, len) = leading_bytes::<1>(n);
        len == 1 && !skip(header[0])
    };
    let count = au.nals().filter(keep).count();
    let mut prefixes = BytesMut::with_capacity(4 * count);
    for n in au.nals().filter(keep) {
        let len: usize = n.iter().map(Bytes::len).sum();
        prefixes.put_u32(u32::try_from(len).unwrap_or(u32::MAX));
    }
    let prefixes = prefixes.freeze();
    let mut out = Vec::with_capacity(count + au.data.len());
    for (i, n) in au.nals().filter(keep).enumerate() {
        out.push(prefixes.slice(4 * i..4 * i + 4));
        out.extend(n.iter().cloned());
    }
    out
}

/// Fuzz entry point of the `fmp4_roundtrip` target: the reader on raw bytes, then access units
/// derived from the bytes → [`SampleBuilder`] → [`super::fragment`] → [`super::read_fragment`],
/// asserting that counts, sizes, durations, flags, offsets and payload bytes survive.
#[doc(hidden)]
pub fn fuzz_fmp4_roundtrip(data: &[u8]) {
    let _ = super::read_init(data);
    let _ = super::read_fragment(data);
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let track = fuzz::track(selector);
    let init = super::init_segment(std::slice::from_ref(&track)).expect("fuzz track has params");
    fuzz::check_init(&init, &track);
    let units = fuzz::units(rest, track.clock_rate);
    let mut builder = SampleBuilder::new(&track);
    let mut samples = Vec::new();
    for au in &units {
        builder.push(au);
        samples.extend(std::iter::from_fn(|| builder.pull()));
    }
    builder.flush();
    samples.extend(std::iter::from_fn(|| builder.pull()));
    fuzz::check_samples(&samples, &units, &track);
    fuzz::check_fragment(u32::from(selector), &samples);
}

/// Named seeds for the `fmp4_roundtrip` corpus: derived-unit inputs for every codec selector,
/// and real init segments and a fragment (so the reader starts deep in valid boxes).
#[doc(hidden)]
pub fn fuzz_fmp4_seeds() -> Vec<(String, Vec<u8>)> {
    let mut seeds = Vec::new();
    for selector in [0u8, 1, 2, 3, 7, 11, 15] {
        let mut data = vec![selector];
        for i in 0..40u8 {
            data.extend_from_slice(&[i.wrapping_mul(37), i % 5, i.wrapping_mul(11), i]);
        }
        seeds.push((format!("units-{selector}"), data));
    }
    for selector in 0..4u8 {
        let track = fuzz::track(selector);
        if let Ok(init) = super::init_segment(std::slice::from_ref(&track)) {
            seeds.push((format!("init-{selector}"), init.to_vec()));
        }
    }
    let frame = Sample {
        duration: 3000,
        composition_offset: -3000,
        keyframe: true,
        data: vec![Bytes::from_static(&[0, 0, 0, 2, 0x65, 0x88])],
    };
    let run = super::TrackRun {
        track_id: 1,
        base_decode_time: 90_000,
        samples: vec![
            frame.clone(),
            Sample {
                keyframe: false,
                ..frame
            },
        ],
    };
    let chunks = super::fragment(3, std::slice::from_ref(&run));
    seeds.push((
        "fragment".to_owned(),
        chunks.iter().flat_map(|c| c.to_vec()).collect(),
    ));
    seeds
}

mod fuzz {
    //! Helpers of [`super::fuzz_fmp4_roundtrip`]; panics here are findings.

    use bytes::Bytes;

    use crate::fmp4::{self, Sample, TrackRun};
    use crate::model::VideoParams;
    use crate::model::{AacParams, AccessUnit, CodecParams, G711Params, OpusParams, Track};
    use crate::time::Timestamp;

    /// A 320×240 High-profile SPS and its PPS (x264 output, `codec/testdata`).
    const SPS: &[u8] = &[
        0x67, 0x64, 0x00, 0x0d, 0xac, 0xd9, 0x41, 0x41, 0xfb, 0x01, 0x10, 0x00, 0x00, 0x03, 0x00,
        0x10, 0x00, 0x00, 0x03, 0x03, 0x20, 0xf1, 0x42, 0x99, 0x60,
    ];
    const PPS: &[u8] = &[0x68, 0xeb, 0xec, 0xb2, 0x2c];

    pub(super) fn track(selector: u8) -> Track {
        let (codec, clock_rate) = match selector % 4 {
            0 => (
                CodecParams::H264(VideoParams {
                    vps: None,
                    sps: Some(Bytes::from_static(SPS)),
                    pps: Some(Bytes::from_static(PPS)),
                }),
                90_000,
            ),
            1 => (
                CodecParams::Aac(AacParams {
                    config: Bytes::from_static(&[0x11, 0x90]),
                    sample_rate: 48_000,
                    channels: 2,
                }),
                48_000,
            ),
            2 => (CodecParams::Opus(OpusParams { channels: 2 }), 48_000),
            _ => (
                CodecParams::G711(G711Params {
                    mu_law: selector & 4 != 0,
                    sample_rate: 8000,
                    channels: 1 + u16::from(selector & 8 != 0),
                }),
                8000,
            ),
        };
        Track { codec, clock_rate }
    }

    pub(super) fn check_init(init: &[u8], track: &Track) {
        let info = fmp4::read_init(init).expect("own init segment reads back");
        assert_eq!(info.tracks.len(), 1);
        let t = &info.tracks[0];
        assert_eq!(t.id, 1);
        assert_eq!(t.timescale, fmp4::timescale(track));
    }

    /// Up to 64 units, 4 bytes each: payload size, DTS step, composition offset, flags
    /// (bit 0 keyframe, bits 1–2 chunk count − 1, bit 3 all chunks one NAL unit). Payloads are
    /// slices of the input.
    pub(super) fn units(rest: &[u8], clock_rate: u32) -> Vec<AccessUnit> {
        let payload = Bytes::copy_from_slice(rest);
        let mut dts = 0i64;
        let mut units = Vec::new();
        for (i, c) in rest.chunks_exact(4).take(64).enumerate() {
            let &[size, step, cto, flags] = c else {
                continue;
            };
            dts += i64::from(step) * 37;
            let pts = dts + i64::from(cto as i8) * 50;
            let data: Vec<Bytes> = (0..1 + usize::from((flags >> 1) & 3))
                .map(|k| {
                    let start = (i * 7 + k * 13) % payload.len().max(1);
                    let end = (start + usize::from(size)).min(payload.len());
                    payload.slice(start..end)
                })
                .collect();
            let one_nal = flags & 8 != 0;
            units.push(AccessUnit {
                track: 0,
                pts: Timestamp::new(pts, clock_rate),
                dts: Timestamp::new(dts, clock_rate),
                keyframe: flags & 1 != 0,
                wallclock_us: None,
                nal_ends: if one_nal {
                    vec![data.len() as u32]
                } else {
                    Vec::new()
                },
                data,
                new_params: None,
            });
        }
        units
    }

    /// Invariants of the builder's output against its input.
    pub(super) fn check_samples(samples: &[(i64, Sample)], units: &[AccessUnit], track: &Track) {
        for w in samples.windows(2) {
            assert_eq!(
                w[0].0 + i64::from(w[0].1.duration),
                w[1].0,
                "durations chain decode times"
            );
        }
        let expected: usize = match &track.codec {
            CodecParams::H264(_) => units
                .iter()
                .flat_map(AccessUnit::contiguous_nals)
                .filter(|n| n.first().is_some_and(|h| h & 0x1F != 9))
                .map(|n| 4 + n.len())
                .sum(),
            CodecParams::G711(_) => return,
            _ => units.iter().map(AccessUnit::len).sum(),
        };
        let got: usize = samples.iter().map(|(_, s)| s.size()).sum();
        assert_eq!(got, expected, "payload bytes in = out");
    }

    /// Two runs (the samples split in half, as two tracks) through `fragment` and back.
    pub(super) fn check_fragment(sequence: u32, samples: &[(i64, Sample)]) {
        let half = samples.len() / 2;
        let runs: Vec<TrackRun> = [&samples[..half], &samples[half..]]
            .iter()
            .enumerate()
            .map(|(i, part)| TrackRun {
                track_id: i as u32 + 1,
                base_decode_time: part.first().map_or(0, |s| s.0.unsigned_abs()),
                samples: part.iter().map(|(_, s)| s.clone()).collect(),
            })
            .collect();
        let chunks = fmp4::fragment(sequence, &runs);
        let bytes = chunks.concat();
        assert_eq!(bytes.len(), fmp4::total_len(&chunks));
        let info = fmp4::read_fragment(&bytes).expect("own fragment reads back");
        assert_eq!(info.sequence_number, sequence);
        assert_eq!(info.mdat.end, bytes.len());
        assert_eq!(info.tracks.len(), runs.len());
        for (run, traf) in runs.iter().zip(&info.tracks) {
            assert_eq!(traf.track_id, run.track_id);
            assert_eq!(traf.base_decode_time, run.base_decode_time);
            assert_eq!(traf.samples.len(), run.samples.len());
            for ((s, got), range) in run
                .samples
                .iter()
                .zip(&traf.samples)
                .zip(traf.sample_ranges())
            {
                assert_eq!(got.duration, s.duration);
                assert_eq!(got.size as usize, s.size());
                assert_eq!(got.composition_offset, s.composition_offset);
                assert_eq!(got.is_sync(), s.keyframe);
                let want = s.data.concat();
                assert_eq!(bytes.get(range), Some(&want[..]), "sample payload");
            }
        }
    }
}
