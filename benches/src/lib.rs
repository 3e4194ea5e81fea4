//! Shared helpers for the benches (counting allocator, fixtures).
