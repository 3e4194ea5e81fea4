//! The heap, as jemalloc counts it: `vigia_heap_allocated_bytes` (what the program holds) and
//! `vigia_heap_resident_bytes` (the pages the allocator keeps in memory for it). Resident growing
//! while allocated stays flat is the allocator's fragmentation or caches, not a leak; both
//! growing together is live data (issue 11's soak asks which one a slow RSS slope is).

use std::fmt;

use prometheus_client::encoding::DescriptorEncoder;
use tikv_jemalloc_ctl::{epoch, stats};

use super::family::{Kind, write};

/// jemalloc's figures at one moment, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Heap {
    /// Bytes allocated by the program and not freed yet.
    pub(crate) allocated: u64,
    /// Bytes in the physically resident pages jemalloc maps (live data, metadata, fragmentation
    /// and freed pages it has not returned yet).
    pub(crate) resident: u64,
}

impl Heap {
    /// Refreshes jemalloc's statistics and reads them; `None` if the allocator can't say (a
    /// build with another allocator).
    pub(crate) fn read() -> Option<Self> {
        epoch::advance().ok()?;
        Some(Self {
            allocated: stats::allocated::read().ok()? as u64,
            resident: stats::resident::read().ok()? as u64,
        })
    }
}

/// Writes both families; without figures they are described with no sample.
pub(crate) fn encode(encoder: &mut DescriptorEncoder<'_>) -> fmt::Result {
    let heap = Heap::read();
    let sample =
        |value: fn(&Heap) -> u64| heap.iter().map(|h| (vec![], value(h))).collect::<Vec<_>>();
    write(
        encoder,
        "vigia_heap_allocated_bytes",
        "Bytes the server has allocated and not freed (jemalloc's stats.allocated)",
        Kind::Gauge,
        &sample(|h| h.allocated),
    )?;
    write(
        encoder,
        "vigia_heap_resident_bytes",
        "Bytes of heap pages resident in memory (jemalloc's stats.resident): live data plus the allocator's metadata, fragmentation and freed pages not yet returned",
        Kind::Gauge,
        &sample(|h| h.resident),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const HELD: u64 = 64 << 20;
    /// What other tests running at the same time may allocate or free meanwhile.
    const SLACK: u64 = 8 << 20;

    #[test]
    fn allocated_bytes_follow_what_the_program_holds() {
        let before =
            Heap::read().expect("jemalloc statistics (the unit tests run on jemalloc too)");
        let held = vec![1u8; HELD as usize];
        let during = Heap::read().expect("statistics");
        assert!(
            during.allocated + SLACK >= before.allocated + HELD,
            "{before:?} -> {during:?}"
        );
        assert!(during.resident + SLACK >= HELD, "{during:?}");
        drop(held);
        let after = Heap::read().expect("statistics");
        assert!(
            after.allocated + HELD <= during.allocated + SLACK,
            "{during:?} -> {after:?}"
        );
    }
}
