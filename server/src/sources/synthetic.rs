//! The built-in synthetic source: the looped clip shipped with Vigia, paced in real time, with a
//! wall-clock SEI stamp on every keyframe.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::time::Instant;
use vigia_media::synthetic::{self, Player};

use crate::paths::Path;

/// Plays the clip into `path` until the task is aborted.
pub(crate) async fn run(path: Arc<Path>, hd: bool) {
    let clip = if hd {
        synthetic::builtin_1080p()
    } else {
        synthetic::builtin_360p()
    };
    let stream = path.source_ready(clip.tracks().to_vec());
    let mut player = Player::new(clip);
    let start = Instant::now();
    loop {
        let due = start + Duration::from_micros(player.next_due_us().max(0) as u64);
        tokio::time::sleep_until(due).await;
        stream.publish(player.next_unit(unix_micros()));
    }
}

/// The wall clock as UNIX microseconds.
pub(crate) fn unix_micros() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}
