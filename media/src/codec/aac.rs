//! MPEG-4 AAC: AudioSpecificConfig (ISO 14496-3 §1.6.2.1) and ADTS framing (§1.A.2.2).

use bytes::Bytes;

use super::CodecError;
use super::bits::BitReader;
use crate::model::AacParams;

/// Sampling frequencies by `samplingFrequencyIndex` (ISO 14496-3 Table 1.18).
pub const SAMPLE_RATES: [u32; 13] = [
    96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350,
];

/// Samples per channel in one AAC-LC frame (with `frameLengthFlag` 0).
pub const SAMPLES_PER_FRAME: u32 = 1024;

/// The fields of an AudioSpecificConfig that matter for carrying AAC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AudioSpecificConfig {
    /// `audioObjectType` (2 = AAC-LC).
    pub object_type: u8,
    /// Sampling rate in Hz (from the index table or the explicit 24-bit field).
    pub sample_rate: u32,
    /// `channelConfiguration` (1 mono, 2 stereo, 0 = defined in-band).
    pub channel_config: u8,
    /// GASpecificConfig `frameLengthFlag`: frames of 960 instead of 1024 samples.
    pub frame_length_960: bool,
}

impl AudioSpecificConfig {
    /// Parses an AudioSpecificConfig (ISO 14496-3 §1.6.2.1, GASpecificConfig §4.4.1).
    pub fn parse(data: &[u8]) -> Result<Self, CodecError> {
        let mut r = BitReader::new(data);
        let mut read = || -> Result<Self, CodecError> {
            let mut object_type = r.read_u8(5)?;
            if object_type == 31 {
                object_type = 32 + r.read_u8(6)?;
            }
            if object_type == 0 {
                return Err(CodecError::Invalid {
                    what: "audioObjectType",
                });
            }
            let index = r.read_u8(4)?;
            let sample_rate = match index {
                0x0F => r.read_u32(24)?,
                i => rate_of_index(i)?,
            };
            if sample_rate == 0 {
                return Err(CodecError::Invalid {
                    what: "samplingFrequency",
                });
            }
            let channel_config = r.read_u8(4)?;
            let frame_length_960 = r.read_bit().unwrap_or(false);
            Ok(Self {
                object_type,
                sample_rate,
                channel_config,
                frame_length_960,
            })
        };
        read().map_err(|e| e.incomplete_in("AudioSpecificConfig"))
    }

    /// Encodes the config (GASpecificConfig with `dependsOnCoreCoder` and `extensionFlag` 0).
    pub fn to_bytes(&self) -> Bytes {
        let mut w = BitWriter::default();
        if self.object_type >= 31 {
            w.put(31, 5);
            w.put(u32::from(self.object_type.saturating_sub(32)), 6);
        } else {
            w.put(u32::from(self.object_type), 5);
        }
        match SAMPLE_RATES.iter().position(|&r| r == self.sample_rate) {
            Some(i) => w.put(i as u32, 4),
            None => {
                w.put(0x0F, 4);
                w.put(self.sample_rate & 0xFF_FFFF, 24);
            }
        }
        w.put(u32::from(self.channel_config), 4);
        w.put(u32::from(self.frame_length_960), 1);
        w.put(0, 2); // dependsOnCoreCoder, extensionFlag
        Bytes::from(w.finish())
    }

    /// The RFC 6381 codec string, `mp4a.40.<object type>` (e.g. `mp4a.40.2`).
    pub fn codec_string(&self) -> String {
        format!("mp4a.40.{}", self.object_type)
    }

    /// Channel count implied by `channelConfiguration` (7 → 8 channels; 0 → 0, unknown).
    pub fn channels(&self) -> u16 {
        match self.channel_config {
            7 => 8,
            c @ 0..=6 => u16::from(c),
            _ => 0,
        }
    }

    /// Samples per channel per frame (1024, or 960 with `frameLengthFlag`).
    pub fn samples_per_frame(&self) -> u32 {
        if self.frame_length_960 {
            960
        } else {
            SAMPLES_PER_FRAME
        }
    }

    /// The model's [`AacParams`] for this config.
    pub fn to_params(&self) -> AacParams {
        AacParams {
            config: self.to_bytes(),
            sample_rate: self.sample_rate,
            channels: self.channels(),
        }
    }
}

/// One ADTS frame header (ISO 14496-3 §1.A.2.2.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AdtsHeader {
    /// The config the header describes (object type = `profile` + 1).
    pub config: AudioSpecificConfig,
    /// Header length: 7, or 9 with a CRC.
    pub header_len: usize,
    /// `aac_frame_length`: header plus payload.
    pub frame_len: usize,
    /// `number_of_raw_data_blocks_in_frame + 1`.
    pub raw_blocks: u8,
}

impl AdtsHeader {
    /// Parses the ADTS header at the start of `data`.
    pub fn parse(data: &[u8]) -> Result<Self, CodecError> {
        let h: &[u8; 7] =
            data.get(..7)
                .and_then(|s| s.try_into().ok())
                .ok_or(CodecError::Incomplete {
                    what: "ADTS header",
                })?;
        if h[0] != 0xFF || h[1] & 0xF6 != 0xF0 {
            return Err(CodecError::Invalid {
                what: "ADTS syncword/layer",
            });
        }
        let header_len = if h[1] & 0x01 == 0 { 9 } else { 7 };
        let object_type = (h[2] >> 6) + 1;
        let sample_rate = rate_of_index((h[2] >> 2) & 0x0F)?;
        let channel_config = ((h[2] & 0x01) << 2) | (h[3] >> 6);
        let frame_len =
            (usize::from(h[3] & 0x03) << 11) | (usize::from(h[4]) << 3) | usize::from(h[5] >> 5);
        if frame_len < header_len {
            return Err(CodecError::Invalid {
                what: "ADTS aac_frame_length",
            });
        }
        let config = AudioSpecificConfig {
            object_type,
            sample_rate,
            channel_config,
            frame_length_960: false,
        };
        Ok(Self {
            config,
            header_len,
            frame_len,
            raw_blocks: (h[6] & 0x03) + 1,
        })
    }
}

/// Splits an ADTS stream into raw AAC frames (zero-copy slices) and the config of the first.
///
/// Every frame must have one raw data block and the same config as the first.
pub fn split_adts(stream: &Bytes) -> Result<(AudioSpecificConfig, Vec<Bytes>), CodecError> {
    let mut frames = Vec::new();
    let mut config = None;
    let mut pos = 0;
    while pos < stream.len() {
        let h = AdtsHeader::parse(stream.get(pos..).unwrap_or_default())?;
        if *config.get_or_insert(h.config) != h.config {
            return Err(CodecError::Unsupported {
                what: "ADTS config change",
            });
        }
        if h.raw_blocks != 1 {
            return Err(CodecError::Unsupported {
                what: "ADTS frame with several blocks",
            });
        }
        let end = pos + h.frame_len;
        if end > stream.len() {
            return Err(CodecError::Incomplete { what: "ADTS frame" });
        }
        frames.push(stream.slice(pos + h.header_len..end));
        pos = end;
    }
    let config = config.ok_or(CodecError::Incomplete {
        what: "ADTS stream",
    })?;
    Ok((config, frames))
}

fn rate_of_index(index: u8) -> Result<u32, CodecError> {
    SAMPLE_RATES
        .get(usize::from(index))
        .copied()
        .ok_or(CodecError::Invalid {
            what: "samplingFrequencyIndex",
        })
}

/// Minimal MSB-first bit writer for encoding configs.
#[derive(Default)]
struct BitWriter {
    out: Vec<u8>,
    bits: u32,
}

impl BitWriter {
    fn put(&mut self, value: u32, n: u32) {
        for i in (0..n).rev() {
            if self.bits.is_multiple_of(8) {
                self.out.push(0);
            }
            if let Some(last) = self.out.last_mut() {
                *last |= (((value >> i) & 1) as u8) << (7 - self.bits % 8);
            }
            self.bits += 1;
        }
    }

    fn finish(self) -> Vec<u8> {
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audio_specific_config_case_table() {
        /// (name, bytes, object type, rate, channel config, codec string)
        type Case = (&'static str, &'static [u8], u8, u32, u8, &'static str);
        let cases: &[Case] = &[
            ("LC 48k mono", &[0x11, 0x88], 2, 48000, 1, "mp4a.40.2"),
            ("LC 44.1k stereo", &[0x12, 0x10], 2, 44100, 2, "mp4a.40.2"),
            ("LC 16k mono", &[0x14, 0x08], 2, 16000, 1, "mp4a.40.2"),
            ("LC 8k mono", &[0x15, 0x88], 2, 8000, 1, "mp4a.40.2"),
            (
                "LC explicit 40 kHz",
                &[0x17, 0x80, 0x4E, 0x20, 0x08],
                2,
                40000,
                1,
                "mp4a.40.2",
            ),
        ];
        for (name, bytes, ot, rate, ch, codec) in cases {
            let c = AudioSpecificConfig::parse(bytes).unwrap();
            assert_eq!(
                (c.object_type, c.sample_rate, c.channel_config),
                (*ot, *rate, *ch),
                "{name}"
            );
            assert_eq!(c.codec_string(), *codec, "{name}");
            assert_eq!(
                c.to_bytes().as_ref(),
                *bytes,
                "{name}: re-encodes byte for byte"
            );
        }
    }

    #[test]
    fn bad_configs_are_rejected() {
        assert_eq!(
            AudioSpecificConfig::parse(&[0x11]),
            Err(CodecError::Incomplete {
                what: "AudioSpecificConfig"
            })
        );
        assert_eq!(
            AudioSpecificConfig::parse(&[0x16, 0x88]),
            Err(CodecError::Invalid {
                what: "samplingFrequencyIndex"
            })
        );
        assert!(AudioSpecificConfig::parse(&[0x00, 0x00]).is_err());
    }

    #[test]
    fn adts_splits_frames_zero_copy() {
        // Two 9-byte frames (7-byte header + 2 payload bytes), AAC-LC 48 kHz mono.
        let header = [0xFF, 0xF1, 0x4C, 0x40, 0x01, 0x3F, 0xFC];
        let mut s = Vec::new();
        for payload in [[1u8, 2], [3, 4]] {
            s.extend_from_slice(&header);
            s.extend_from_slice(&payload);
        }
        let s = Bytes::from(s);
        let (config, frames) = split_adts(&s).unwrap();
        assert_eq!(
            (config.object_type, config.sample_rate, config.channels()),
            (2, 48000, 1)
        );
        assert_eq!(
            frames,
            [Bytes::from_static(&[1, 2]), Bytes::from_static(&[3, 4])]
        );
        assert_eq!(
            split_adts(&s.slice(..16)),
            Err(CodecError::Incomplete { what: "ADTS frame" })
        );
        assert_eq!(
            AdtsHeader::parse(&[0xFF, 0x00, 0, 0, 0, 0, 0]),
            Err(CodecError::Invalid {
                what: "ADTS syncword/layer"
            })
        );
    }
}
