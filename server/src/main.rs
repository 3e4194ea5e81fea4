//! The `vigia` media server.

fn main() {}
