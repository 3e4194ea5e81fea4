//! The [`PartMuxer`] of production: `vigia_media::fmp4` (CMAF init segments and
//! `moof`+`mdat` fragments as `Bytes` chunk lists, payload not copied).

use bytes::Bytes;
use vigia_media::Track;
use vigia_media::fmp4::{FragmentWriter, PartRun};

use super::muxer::{HlsError, PartMuxer};

/// Writes parts with [`vigia_media::fmp4::FragmentWriter`], the writer the recorder uses too.
#[derive(Debug, Default)]
pub struct Fmp4PartMuxer {
    writer: FragmentWriter,
}

impl Fmp4PartMuxer {
    /// A part muxer; [`PartMuxer::init`] sets it up for the stream's tracks.
    pub fn new() -> Self {
        Self::default()
    }
}

impl PartMuxer for Fmp4PartMuxer {
    fn init(&mut self, tracks: &[Track]) -> Result<Bytes, HlsError> {
        self.writer
            .init(tracks)
            .map_err(|e| HlsError::Init(e.to_string()))
    }

    fn fragment(&mut self, sequence_number: u32, runs: &[PartRun]) -> Vec<Bytes> {
        self.writer.fragment(sequence_number, runs)
    }
}
