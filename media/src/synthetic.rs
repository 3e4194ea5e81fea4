//! The built-in synthetic source: a looped, pre-encoded clip with continuous timestamps.
