//! Codec bitstream helpers: H.264/H.265 parameter sets, POC→DTS, AAC config, SEI, Annex B.
