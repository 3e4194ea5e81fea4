//! The built-in synthetic source: a looped, pre-encoded H.264 (+AAC) clip with continuous
//! timestamps and a wall-clock SEI stamp on every keyframe.
//!
//! [`Clip`] is the parsed clip (NAL units and AAC frames are `Bytes` slices of the clip files,
//! which for the built-in clips are `'static`); [`Player`] is a sans-IO cursor over it that
//! the server drives from a timer: ask [`Player::next_due_us`], wait, call
//! [`Player::next_unit`] with the wall clock.

use std::sync::{Arc, OnceLock};

use bytes::Bytes;

use crate::codec::aac::{self, AudioSpecificConfig};
use crate::codec::h264::{self, NalType, SpsInfo};
use crate::codec::{CodecError, annexb, sei};
use crate::model::{AccessUnit, CodecParams, Track, VideoParams};
use crate::time::Timestamp;

/// Clock rate of the clip's video track.
pub const VIDEO_CLOCK: u32 = 90_000;

/// Frame rate assumed when the SPS has no VUI timing.
const DEFAULT_FPS: u32 = 25;

static ASSET_360P_H264: &[u8] = include_bytes!("../assets/synthetic-360p.h264");
static ASSET_1080P_H264: &[u8] = include_bytes!("../assets/synthetic-1080p.h264");
static ASSET_AAC: &[u8] = include_bytes!("../assets/synthetic-360p.aac");

/// The built-in 640×360 clip (H.264 Main, 25 fps, GOP 1 s, AAC-LC mono 48 kHz).
pub fn builtin_360p() -> Clip {
    static CLIP: OnceLock<Clip> = OnceLock::new();
    CLIP.get_or_init(|| builtin(ASSET_360P_H264)).clone()
}

/// The built-in 1920×1080 clip (same audio as [`builtin_360p`]).
pub fn builtin_1080p() -> Clip {
    static CLIP: OnceLock<Clip> = OnceLock::new();
    CLIP.get_or_init(|| builtin(ASSET_1080P_H264)).clone()
}

/// A looped clip: one H.264 track (index 0) and optionally one AAC track (index 1).
///
/// Both tracks are trimmed to the same loop length, a whole number of video and audio frames,
/// so that timestamps stay continuous across loops.
#[derive(Clone, Debug)]
pub struct Clip {
    tracks: Vec<Track>,
    sps: SpsInfo,
    video: Arc<[Frame]>,
    audio: Arc<[Bytes]>,
    video_frame_ticks: i64,
    audio_frame_samples: i64,
}

impl Clip {
    /// Parses an Annex B H.264 stream and an optional ADTS AAC stream (zero-copy).
    ///
    /// The video must start with (or contain) an IDR access unit with SPS and PPS in front;
    /// frames before the first IDR are dropped, and so are AUD, SEI and filler NAL units.
    pub fn parse(h264: Bytes, aac: Option<Bytes>) -> Result<Clip, CodecError> {
        let mut video = video_frames(&h264)?;
        let (sps_nal, pps_nal) = first_param_sets(&video)?;
        let sps = SpsInfo::parse(&sps_nal)?;
        let video_frame_ticks = frame_ticks(&sps)?;
        let mut tracks = vec![Track {
            codec: CodecParams::H264(VideoParams {
                vps: None,
                sps: Some(sps_nal),
                pps: Some(pps_nal),
            }),
            clock_rate: VIDEO_CLOCK,
        }];
        let (mut audio, mut audio_frame_samples) = (Vec::new(), 0);
        if let Some(aac) = aac {
            let (config, frames) = aac::split_adts(&aac)?;
            let (v, a) = gop_aligned_loop_lengths(&video, video_frame_ticks, frames.len(), &config)
                .or_else(|| loop_lengths(1..=video.len(), video_frame_ticks, frames.len(), &config))
                .ok_or(CodecError::Invalid {
                    what: "clip: no loop length common to audio and video",
                })?;
            video.truncate(v);
            audio = frames;
            audio.truncate(a);
            audio_frame_samples = i64::from(config.samples_per_frame());
            tracks.push(Track {
                codec: CodecParams::Aac(config.to_params()),
                clock_rate: config.sample_rate,
            });
        }
        Ok(Clip {
            tracks,
            sps,
            video: video.into(),
            audio: audio.into(),
            video_frame_ticks,
            audio_frame_samples,
        })
    }

    /// The clip's tracks: H.264 at index 0 (clock 90 kHz), AAC at index 1 (clock = sample rate).
    pub fn tracks(&self) -> &[Track] {
        &self.tracks
    }

    /// What the clip's SPS says (size, profile, level).
    pub fn sps(&self) -> &SpsInfo {
        &self.sps
    }

    /// Duration of one video frame in 90 kHz ticks.
    pub fn video_frame_ticks(&self) -> i64 {
        self.video_frame_ticks
    }

    /// Duration of one audio frame in samples (0 without audio).
    pub fn audio_frame_samples(&self) -> i64 {
        self.audio_frame_samples
    }

    /// Video frames per loop.
    pub fn video_frames(&self) -> usize {
        self.video.len()
    }

    /// Audio frames per loop (0 without audio).
    pub fn audio_frames(&self) -> usize {
        self.audio.len()
    }

    /// Length of one loop in microseconds (the same for both tracks).
    pub fn loop_duration_us(&self) -> i64 {
        Timestamp::new(
            self.video.len() as i64 * self.video_frame_ticks,
            VIDEO_CLOCK,
        )
        .as_micros()
    }

    fn audio_clock(&self) -> u32 {
        self.tracks.get(1).map_or(1, |t| t.clock_rate)
    }
}

/// Plays a [`Clip`] in a loop, producing access units in timestamp order across its tracks.
///
/// Sans-IO: the caller owns the timer. Timestamps start at 0 and loop `n` adds `n` × the loop
/// length. Each video keyframe gets an SEI wall-clock stamp (see [`crate::codec::sei`])
/// between its parameter sets and its slices; every other payload is a slice of the clip.
#[derive(Clone, Debug)]
pub struct Player {
    clip: Clip,
    video_n: i64,
    audio_n: i64,
}

impl Player {
    /// A player positioned at the start of `clip`.
    pub fn new(clip: Clip) -> Self {
        Self {
            clip,
            video_n: 0,
            audio_n: 0,
        }
    }

    /// The clip being played.
    pub fn clip(&self) -> &Clip {
        &self.clip
    }

    /// Media time of the next unit in microseconds from the start of playback.
    pub fn next_due_us(&self) -> i64 {
        if self.next_is_video() {
            self.video_pts().as_micros()
        } else {
            self.audio_pts().as_micros()
        }
    }

    /// The next access unit; `wallclock_us` (UNIX µs) goes into keyframe SEIs and
    /// [`AccessUnit::wallclock_us`].
    pub fn next_unit(&mut self, wallclock_us: i64) -> AccessUnit {
        if self.next_is_video() {
            self.next_video(wallclock_us)
        } else {
            self.next_audio(wallclock_us)
        }
    }

    fn video_pts(&self) -> Timestamp {
        Timestamp::new(self.video_n * self.clip.video_frame_ticks, VIDEO_CLOCK)
    }

    fn audio_pts(&self) -> Timestamp {
        Timestamp::new(
            self.audio_n * self.clip.audio_frame_samples,
            self.clip.audio_clock(),
        )
    }

    fn next_is_video(&self) -> bool {
        if self.clip.audio.is_empty() {
            return true;
        }
        let v = i128::from(self.video_pts().ticks) * i128::from(self.clip.audio_clock());
        let a = i128::from(self.audio_pts().ticks) * i128::from(VIDEO_CLOCK);
        v <= a
    }

    fn next_video(&mut self, wallclock_us: i64) -> AccessUnit {
        let pts = self.video_pts();
        let frame = self
            .clip
            .video
            .get(index_in_loop(self.video_n, self.clip.video.len()));
        self.video_n += 1;
        let (keyframe, data) = match frame {
            Some(f) if f.keyframe => (true, with_sei(&f.nalus, wallclock_us)),
            Some(f) => (false, f.nalus.clone()),
            None => (false, Vec::new()),
        };
        unit(0, pts, keyframe, wallclock_us, data)
    }

    fn next_audio(&mut self, wallclock_us: i64) -> AccessUnit {
        let pts = self.audio_pts();
        let frame = self
            .clip
            .audio
            .get(index_in_loop(self.audio_n, self.clip.audio.len()));
        self.audio_n += 1;
        unit(
            1,
            pts,
            true,
            wallclock_us,
            frame.cloned().into_iter().collect(),
        )
    }
}

/// One video access unit of a clip.
#[derive(Clone, Debug)]
struct Frame {
    nalus: Vec<Bytes>,
    keyframe: bool,
}

fn builtin(h264: &'static [u8]) -> Clip {
    // The assets are part of the build and covered by tests; failing here is a build defect.
    Clip::parse(
        Bytes::from_static(h264),
        Some(Bytes::from_static(ASSET_AAC)),
    )
    .expect("built-in clip assets parse")
}

fn unit(
    track: usize,
    pts: Timestamp,
    keyframe: bool,
    wallclock_us: i64,
    data: Vec<Bytes>,
) -> AccessUnit {
    AccessUnit {
        track,
        pts,
        dts: pts,
        keyframe,
        wallclock_us: Some(wallclock_us),
        data,
        nal_ends: Vec::new(),
        new_params: None,
    }
}

fn index_in_loop(n: i64, len: usize) -> usize {
    usize::try_from(n).unwrap_or(0) % len.max(1)
}

/// The keyframe's NAL units with a wall-clock SEI inserted before the first slice.
fn with_sei(nalus: &[Bytes], wallclock_us: i64) -> Vec<Bytes> {
    let at = nalus
        .iter()
        .position(|n| NalType::of(n).is_some_and(NalType::is_vcl))
        .unwrap_or(nalus.len());
    let mut out = Vec::with_capacity(nalus.len() + 1);
    out.extend(nalus.iter().take(at).cloned());
    out.push(sei::wallclock_sei_h264(wallclock_us));
    out.extend(nalus.iter().skip(at).cloned());
    out
}

/// The stream's access units from the first IDR on, keeping only SPS, PPS and slices.
fn video_frames(stream: &Bytes) -> Result<Vec<Frame>, CodecError> {
    let keep = |n: &Bytes| {
        NalType::of(n).is_some_and(|t| t.is_vcl() || t == NalType::SPS || t == NalType::PPS)
    };
    let mut frames: Vec<Frame> = Vec::new();
    for au in h264::split_access_units(&annexb::split(stream)) {
        let nalus: Vec<Bytes> = au.into_iter().filter(keep).collect();
        if nalus
            .iter()
            .any(|n| NalType::of(n).is_some_and(NalType::is_vcl))
        {
            push_frame(&mut frames, nalus);
        }
    }
    if frames.is_empty() {
        return Err(CodecError::Invalid {
            what: "clip: no IDR access unit",
        });
    }
    Ok(frames)
}

fn push_frame(frames: &mut Vec<Frame>, nalus: Vec<Bytes>) {
    let keyframe = h264::is_keyframe(&nalus);
    if frames.is_empty() && !keyframe {
        return; // not decodable before the first IDR
    }
    frames.push(Frame { nalus, keyframe });
}

fn first_param_sets(frames: &[Frame]) -> Result<(Bytes, Bytes), CodecError> {
    let first = frames
        .first()
        .map(|f| f.nalus.as_slice())
        .unwrap_or_default();
    let find = |t: NalType| first.iter().find(|n| NalType::of(n) == Some(t)).cloned();
    let sps = find(NalType::SPS).ok_or(CodecError::Invalid {
        what: "clip: no SPS before first IDR",
    })?;
    let pps = find(NalType::PPS).ok_or(CodecError::Invalid {
        what: "clip: no PPS before first IDR",
    })?;
    Ok((sps, pps))
}

/// Frame duration in 90 kHz ticks from the SPS frame rate (25 fps if absent).
fn frame_ticks(sps: &SpsInfo) -> Result<i64, CodecError> {
    let (num, den) = sps.frame_rate.unwrap_or((DEFAULT_FPS, 1));
    let ticks = u64::from(VIDEO_CLOCK) * u64::from(den);
    if num == 0 || ticks % u64::from(num) != 0 {
        return Err(CodecError::Unsupported {
            what: "clip: frame rate not a whole number of 90 kHz ticks",
        });
    }
    Ok((ticks / u64::from(num)) as i64)
}

/// The longest loop (video frames, audio frames) that both tracks fill exactly.
/// The longest loop that ends right before a keyframe, so every GOP (and every HLS segment) has
/// the same length across the seam, or `None` when the clip has no such length.
fn gop_aligned_loop_lengths(
    video: &[Frame],
    video_ticks: i64,
    audio_frames: usize,
    config: &AudioSpecificConfig,
) -> Option<(usize, usize)> {
    let before_keyframe = (1..video.len()).filter(|&v| video[v].keyframe);
    loop_lengths(before_keyframe, video_ticks, audio_frames, config)
}

/// The longest of the candidate video frame counts (ascending) whose duration is also a whole
/// number of audio frames, not more than the clip has: `(video frames, audio frames)`.
fn loop_lengths(
    candidates: impl DoubleEndedIterator<Item = usize>,
    video_ticks: i64,
    audio_frames: usize,
    config: &AudioSpecificConfig,
) -> Option<(usize, usize)> {
    let audio_unit = i128::from(VIDEO_CLOCK) * i128::from(config.samples_per_frame());
    candidates.rev().find_map(|v| {
        let video_in_samples = v as i128 * i128::from(video_ticks) * i128::from(config.sample_rate);
        if video_in_samples % audio_unit != 0 {
            return None;
        }
        let a = usize::try_from(video_in_samples / audio_unit).ok()?;
        (a <= audio_frames).then_some((v, a))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::h264::SpsInfo;
    use crate::model::MediaKind;

    #[test]
    fn builtin_clips_have_expected_tracks() {
        for (clip, size) in [
            (builtin_360p(), (640, 360)),
            (builtin_1080p(), (1920, 1080)),
        ] {
            let tracks = clip.tracks();
            assert_eq!(tracks.len(), 2);
            let CodecParams::H264(v) = &tracks[0].codec else {
                panic!("video first")
            };
            let sps = SpsInfo::parse(v.sps.as_deref().unwrap()).unwrap();
            assert_eq!((sps.width, sps.height), size);
            assert_eq!(sps.profile_idc, 77, "Main profile");
            assert!(v.pps.is_some());
            assert_eq!(tracks[0].clock_rate, VIDEO_CLOCK);
            let CodecParams::Aac(a) = &tracks[1].codec else {
                panic!("audio second")
            };
            assert_eq!((a.sample_rate, a.channels), (48_000, 1));
            assert_eq!(tracks[1].clock_rate, 48_000);
            assert_eq!(tracks[1].kind(), MediaKind::Audio);
            assert_eq!(clip.video_frame_ticks(), 3600, "25 fps");
            // 8 s: the longest whole number of GOPs (25 frames of 40 ms) and 1024-sample frames ≤ 10 s.
            assert_eq!((clip.video_frames(), clip.audio_frames()), (200, 375));
            assert_eq!(clip.loop_duration_us(), 8_000_000);
        }
    }

    #[test]
    fn timestamps_continue_across_three_loops() {
        let clip = builtin_360p();
        let per_loop = clip.video_frames() + clip.audio_frames();
        let mut p = Player::new(clip);
        let mut last = [i64::MIN; 2];
        let mut last_due = i64::MIN;
        let mut counts = [0usize; 2];
        for _ in 0..3 * per_loop {
            let due = p.next_due_us();
            assert!(due >= last_due, "units come in time order");
            last_due = due;
            let u = p.next_unit(1_700_000_000_000_000 + due);
            assert_eq!(u.pts.as_micros(), due);
            assert_eq!(u.dts, u.pts);
            assert!(
                u.pts.ticks > last[u.track],
                "track {} pts increases",
                u.track
            );
            last[u.track] = u.pts.ticks;
            counts[u.track] += 1;
        }
        assert_eq!(counts, [3 * 200, 3 * 375]);
        assert_eq!(last[0], (3 * 200 - 1) * 3600);
        assert_eq!(last[1], (3 * 375 - 1) * 1024);
    }

    #[test]
    fn every_keyframe_carries_a_parsable_wallclock_sei_after_parameter_sets() {
        let mut p = Player::new(builtin_360p());
        let mut keyframes = 0;
        for i in 0..3 * 200 {
            let wall = 1_800_000_000_000_000 + i;
            let u = loop {
                let u = p.next_unit(wall);
                if u.track == 0 {
                    break u;
                }
            };
            let types: Vec<u8> = u.data.iter().map(|n| n[0] & 0x1F).collect();
            assert_eq!(u.keyframe, types.contains(&5));
            assert_eq!(
                u.keyframe,
                i % 25 == 0,
                "frame {i}: one GOP every 25 frames"
            );
            if u.keyframe {
                keyframes += 1;
                assert_eq!(&types[..4], &[7, 8, 6, 5], "SPS, PPS, SEI, IDR");
                assert_eq!(sei::find_wallclock(&u.data), Some(wall));
            } else {
                assert!(!types.contains(&6));
            }
        }
        assert_eq!(
            keyframes,
            3 * 8,
            "GOP 25 over 200 frames: 8 keyframes per loop, the seam included"
        );
    }

    #[test]
    fn payload_is_not_copied() {
        let clip = builtin_360p();
        let mut p = Player::new(clip);
        let range = ASSET_360P_H264.as_ptr_range();
        let aac = ASSET_AAC.as_ptr_range();
        for _ in 0..100 {
            let u = p.next_unit(0);
            for chunk in &u.data {
                let inside = range.contains(&chunk.as_ptr()) || aac.contains(&chunk.as_ptr());
                assert!(inside || sei::parse_wallclock_sei(chunk).is_some());
            }
        }
    }

    #[test]
    fn clip_without_audio_and_bad_inputs() {
        let clip = Clip::parse(Bytes::from_static(ASSET_360P_H264), None).unwrap();
        assert_eq!(
            (
                clip.tracks().len(),
                clip.video_frames(),
                clip.audio_frames()
            ),
            (1, 250, 0)
        );
        let mut p = Player::new(clip);
        assert!(p.next_unit(0).keyframe);
        assert_eq!(p.next_due_us(), 40_000);
        assert!(Clip::parse(Bytes::new(), None).is_err());
        assert!(Clip::parse(Bytes::from_static(&[0, 0, 1, 0x41, 0x9A]), None).is_err());
        let bad_aac = Some(Bytes::from_static(&[0xFF, 0xF1, 0x4C]));
        assert!(Clip::parse(Bytes::from_static(ASSET_360P_H264), bad_aac).is_err());
    }
}
