use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use vigia_media::synthetic::{Player, builtin_360p};

use super::*;
use crate::recorder::{RecordEvent, Recorder, RecorderConfig};

struct Dir(PathBuf);

impl Dir {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("vigia-spool-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        Dir(dir)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Init segment and parts of `seconds` of the built-in clip in one segment.
fn recorded(seconds: i64) -> (Bytes, Vec<Vec<Bytes>>) {
    let mut player = Player::new(builtin_360p());
    let cfg = RecorderConfig {
        segment_duration: Duration::from_secs(3600),
        ..RecorderConfig::default()
    };
    let mut recorder = Recorder::new(player.clip().tracks().to_vec(), cfg);
    while player.next_due_us() < seconds * 1_000_000 {
        let due = player.next_due_us();
        recorder.push(Arc::new(player.next_unit(due)));
    }
    recorder.finish();
    let (mut init, mut parts) = (Bytes::new(), Vec::new());
    while let Some(e) = recorder.pull() {
        match e {
            RecordEvent::SegmentStart { init: i, .. } => init = i,
            RecordEvent::Part { chunks, .. } => parts.push(chunks),
            RecordEvent::SegmentEnd { .. } => {}
        }
    }
    (init, parts)
}

fn meta(key: &str) -> SegmentMeta {
    SegmentMeta {
        path: "cam".into(),
        destination: Destination::Local { root: "r".into() },
        key: key.into(),
        start_us: 7,
        duration_us: None,
    }
}

#[test]
fn complete_segments_wait_for_upload_in_order() {
    let dir = Dir::new("order");
    let spool = Spool::open(&dir.0, 1 << 30).unwrap();
    let (init, parts) = recorded(3);
    let mut a = spool.begin(meta("a"), &init).unwrap();
    let b = spool.begin(meta("b"), &init).unwrap();
    for p in &parts {
        assert!(a.append(p).unwrap());
    }
    assert_eq!(spool.next_pending(), None, "open segments are not uploaded");
    b.finish(1).unwrap();
    a.finish(3_000_000).unwrap();
    let first = spool.next_pending().unwrap();
    assert_eq!(first.meta.key, "a");
    let data = std::fs::read(&first.file).unwrap();
    assert_eq!(data.len() as u64, first.size);
    let scan = SegmentScan::scan(&data);
    assert_eq!(
        scan.valid_len + TRAILER_LEN,
        data.len(),
        "whole fragments, then the trailer"
    );
    assert_eq!(crate::trailer::read_trailer(&data), Some(3_000_000));
    assert_eq!(scan.fragments.len(), parts.len());
    spool.remove(first.id);
    assert_eq!(spool.next_pending().unwrap().meta.key, "b");
}

#[test]
fn the_backlog_counts_complete_segments_per_path() {
    let dir = Dir::new("backlog");
    let spool = Spool::open(&dir.0, 1 << 30).unwrap();
    let init = Bytes::from_static(b"init");
    let other = SegmentMeta {
        path: "other".into(),
        ..meta("c")
    };
    let a = spool.begin(meta("a"), &init).unwrap();
    let b = spool.begin(meta("b"), &init).unwrap();
    let _open = spool.begin(meta("open"), &init).unwrap();
    let c = spool.begin(other, &init).unwrap();
    assert!(spool.backlog().is_empty(), "open segments are no backlog");
    b.finish(5).unwrap();
    a.finish(3).unwrap();
    c.finish(1).unwrap();
    let backlog = spool.backlog();
    let cam = backlog["cam"];
    assert_eq!((cam.segments, cam.oldest_end_us), (2, 7 + 3));
    let first = spool.next_pending().unwrap();
    assert_eq!(
        cam.bytes,
        2 * first.size,
        "init and trailer of two same-length segments"
    );
    assert_eq!(backlog["other"].segments, 1);
    spool.remove(first.id);
    assert_eq!(spool.backlog()["cam"].oldest_end_us, 7 + 5);
}

#[test]
fn a_crash_leaves_a_valid_segment_of_every_fsynced_part() {
    let dir = Dir::new("crash");
    let (init, parts) = recorded(4);
    {
        let spool = Spool::open(&dir.0, 1 << 30).unwrap();
        let mut w = spool.begin(meta("cut"), &init).unwrap();
        for p in &parts[..3] {
            w.append(p).unwrap();
        }
        // A torn write: half of the next part, then the process dies (no finish).
        let torn: Vec<u8> = parts[3].iter().flat_map(|c| c.to_vec()).collect();
        w.file.write_all(&torn[..torn.len() / 2]).unwrap();
        std::mem::forget(w);
    }
    let spool = Spool::open(&dir.0, 1 << 30).unwrap();
    assert_eq!(spool.stats().recovered_segments, 1);
    let p = spool.next_pending().expect("recovered segment is complete");
    let data = std::fs::read(&p.file).unwrap();
    let scan = SegmentScan::scan(&data);
    assert_eq!(scan.fragments.len(), 3);
    assert_eq!(scan.valid_len + TRAILER_LEN, data.len());
    assert_eq!(
        crate::trailer::read_trailer(&data),
        Some(scan.duration_us())
    );
    assert_eq!(p.meta.duration_us, Some(scan.duration_us()));
    assert!((2_900_000..=3_100_000).contains(&scan.duration_us()));
    let again = spool.begin(meta("next"), &init).unwrap();
    assert!(again.id > p.id, "ids keep growing after a restart");
}

#[test]
fn a_full_spool_drops_the_oldest_unsent_segment() {
    let dir = Dir::new("full");
    let (init, parts) = recorded(2);
    let part_len: u64 = parts[0].iter().map(|c| c.len() as u64).sum();
    let spool = Spool::open(&dir.0, init.len() as u64 * 2 + part_len * 2 + 10).unwrap();
    let mut old = spool.begin(meta("old"), &init).unwrap();
    old.append(&parts[0]).unwrap();
    old.finish(1).unwrap();
    let mut new = spool.begin(meta("new"), &init).unwrap();
    for _ in 0..2 {
        assert!(new.append(&parts[0]).unwrap());
    }
    let stats = spool.stats();
    assert_eq!(stats.dropped_segments, 1, "{stats:?}");
    assert_eq!(spool.next_pending(), None, "the old segment is gone");
    // Nothing complete left to drop: a part that does not fit is dropped and counted.
    let big = vec![Bytes::from(vec![0u8; (part_len * 4) as usize])];
    assert!(!new.append(&big).unwrap());
    assert!(spool.stats().dropped_bytes >= part_len * 4);
}
