//! What waits to be stored or sent: the recorder's spool and uploads, and the event outbox.

use std::fmt;

use prometheus_client::encoding::DescriptorEncoder;
use vigia_events::PublisherStats;

use super::family::{Kind, Labels, labels, write};
use crate::record::RecordingFigures;

/// A recording family: name, help, kind, and how to read its value.
type RecordingFamily = (
    &'static str,
    &'static str,
    Kind,
    fn(&RecordingFigures) -> u64,
);

/// The spool, uploader and recorders; families without samples when nothing records.
pub(super) fn encode_recording(
    encoder: &mut DescriptorEncoder<'_>,
    figures: Option<RecordingFigures>,
) -> fmt::Result {
    let one = |value: fn(&RecordingFigures) -> u64| -> Vec<(Labels, u64)> {
        figures.iter().map(|f| (Vec::new(), value(f))).collect()
    };
    let families: [RecordingFamily; 11] = [
        (
            "vigia_spool_bytes",
            "Bytes in the local spool",
            Kind::Gauge,
            |f| f.spool.bytes,
        ),
        (
            "vigia_spool_max_bytes",
            "Bytes the spool may hold (recordSpoolMaxSize)",
            Kind::Gauge,
            |f| f.spool_max_bytes,
        ),
        (
            "vigia_spool_segments",
            "Segments in the spool (open or waiting for upload)",
            Kind::Gauge,
            |f| f.spool.segments,
        ),
        (
            "vigia_spool_dropped_segments",
            "Segments dropped unsent because the spool was full",
            Kind::Counter,
            |f| f.spool.dropped_segments,
        ),
        (
            "vigia_spool_dropped_bytes",
            "Bytes dropped unsent because the spool was full",
            Kind::Counter,
            |f| f.spool.dropped_bytes,
        ),
        (
            "vigia_spool_recovered_segments",
            "Segments cut by a crash and repaired at start",
            Kind::Counter,
            |f| f.spool.recovered_segments,
        ),
        (
            "vigia_upload_segments",
            "Segments stored in their destination",
            Kind::Counter,
            |f| f.uploaded_segments,
        ),
        (
            "vigia_upload_bytes",
            "Bytes stored in their destination",
            Kind::Counter,
            |f| f.uploaded_bytes,
        ),
        (
            "vigia_upload_failures",
            "Failed upload attempts",
            Kind::Counter,
            |f| f.upload_failures,
        ),
        (
            "vigia_recorder_lagged_units",
            "Access units recorders lost by falling behind",
            Kind::Counter,
            |f| f.lagged_units,
        ),
        (
            "vigia_recorder_backlog_bytes",
            "Media bytes queued for recorders, waiting for the spool",
            Kind::Gauge,
            |f| f.backlog_bytes,
        ),
    ];
    for (name, help, kind, value) in families {
        write(encoder, name, help, kind, &one(value))?;
    }
    Ok(())
}

/// The event publisher: outbox depth and what happened to events.
pub(super) fn encode_outbox(
    encoder: &mut DescriptorEncoder<'_>,
    stats: Option<PublisherStats>,
) -> fmt::Result {
    let one = |value: fn(&PublisherStats) -> u64| -> Vec<(Labels, u64)> {
        stats.iter().map(|s| (Vec::new(), value(s))).collect()
    };
    let help = "Events in the durable outbox waiting for the broker's confirm";
    write(
        encoder,
        "vigia_events_outbox_pending",
        help,
        Kind::Gauge,
        &one(|s| s.pending),
    )?;
    let help = "Events made durable (outbox)";
    write(
        encoder,
        "vigia_events_accepted",
        help,
        Kind::Counter,
        &one(|s| s.accepted),
    )?;
    let help = "Events confirmed by the broker";
    write(
        encoder,
        "vigia_events_confirmed",
        help,
        Kind::Counter,
        &one(|s| s.confirmed),
    )?;
    let dropped: Vec<(Labels, u64)> = stats
        .iter()
        .flat_map(|s| {
            [
                (labels([("reason", "outbox_full")]), s.outbox_full),
                (labels([("reason", "intake_full")]), s.intake_full),
            ]
        })
        .collect();
    let help = "Events dropped, by reason";
    write(
        encoder,
        "vigia_events_dropped",
        help,
        Kind::Counter,
        &dropped,
    )?;
    let help = "Broker connections lost or failed";
    write(
        encoder,
        "vigia_events_broker_reconnects",
        help,
        Kind::Counter,
        &one(|s| s.reconnects),
    )?;
    let help = "Negative confirms from the broker";
    write(
        encoder,
        "vigia_events_nacks",
        help,
        Kind::Counter,
        &one(|s| s.nacks),
    )
}
