//! Codec bitstream helpers: H.264/H.265 parameter sets, POC→DTS, AAC config, SEI, Annex B.
//!
//! Everything here is pure: functions take bytes and return values or [`CodecError`]. None of
//! them panics on any input, which the fuzz targets `h264_sps` and `h265_sps` check.

pub mod aac;
pub mod annexb;
pub mod bits;
pub mod flac;
pub mod g711;
pub mod h264;
pub mod h265;
pub mod params;
pub mod sei;

mod nal;
mod poc;

/// What went wrong while reading a bitstream structure.
///
/// `Incomplete` means the input ended before the structure did (more bytes might fix it);
/// `Invalid` means a value is out of its range or contradicts the spec; `Unsupported` means a
/// valid feature this crate does not handle.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    /// The input ended inside `what`.
    #[error("{what}: input ended early")]
    Incomplete {
        /// The structure or field being read.
        what: &'static str,
    },
    /// `what` holds a value the spec forbids.
    #[error("{what}: invalid value")]
    Invalid {
        /// The structure or field that is wrong.
        what: &'static str,
    },
    /// `what` is valid but not handled here.
    #[error("{what}: not supported")]
    Unsupported {
        /// The feature that is not supported.
        what: &'static str,
    },
}

impl CodecError {
    /// Replaces the `what` of an `Incomplete` error, keeping other errors as they are.
    ///
    /// Low layers (the bit reader) only know they ran out of bits; callers say what they read.
    pub(crate) fn incomplete_in(self, what: &'static str) -> Self {
        match self {
            CodecError::Incomplete { .. } => CodecError::Incomplete { what },
            other => other,
        }
    }
}
