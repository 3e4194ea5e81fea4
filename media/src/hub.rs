//! The stream hub: a bounded ring of shared units with one cursor per reader.
