//! Every media playlist the server produces over two minutes of live output, as a polling LL-HLS
//! client sees them (blocking reloads at the preload hint, and delta updates), passes the RFC
//! 8216bis checker — across a publisher reconnect and a parameter-set change (the second
//! publisher sends another resolution).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use vigia_conformance::clips::Clip;
use vigia_conformance::{Background, Ports, Vigia, eventually};
use vigia_protocol::hls::check::{PlaylistHistory, check_media_playlist};

const TOTAL: Duration = Duration::from_secs(120);
const SWITCH_AT: Duration = Duration::from_secs(45);

fn http_get(port: u16, target: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(15)))
        .ok()?;
    let request = format!("GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).ok()?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).ok()?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n")?;
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    Some((status, body.to_string()))
}

/// The blocking request for the part the playlist hints at next.
fn next_request(playlist: &str) -> String {
    let hint = playlist
        .lines()
        .find(|l| l.starts_with("#EXT-X-PRELOAD-HINT"));
    let Some(uri) = hint
        .and_then(|h| h.split("URI=\"").nth(1))
        .and_then(|r| r.split('"').next())
    else {
        return "/cam/stream.m3u8".into();
    };
    let numbers = uri.trim_start_matches("part").trim_end_matches(".mp4");
    match numbers.split_once('.') {
        Some((msn, part)) => format!("/cam/stream.m3u8?_HLS_msn={msn}&_HLS_part={part}"),
        None => "/cam/stream.m3u8".into(),
    }
}

fn publisher(clip: Clip, ports: &Ports) -> Background {
    clip.publish(&ports.rtsp_url("cam"), "tcp")
}

#[test]
fn two_minutes_of_playlists_pass_the_rfc_checker_across_reconnect_and_new_parameters() {
    Clip::H264Small.path();
    // A 20-segment window, so delta updates have segments older than CAN-SKIP-UNTIL to skip.
    let (vigia, ports) =
        Vigia::start_on_fresh_ports("hlsSegmentCount: 20\npaths:\n  all_others:\n");
    let mut camera = Some(publisher(Clip::H264Aac, &ports));
    let first = eventually(Duration::from_secs(20), || {
        http_get(ports.hls, "/cam/stream.m3u8")
            .filter(|(s, _)| *s == 200)
            .map(|(_, b)| b)
    })
    .expect("the playlist becomes available");

    let started = Instant::now();
    let mut history = PlaylistHistory::new();
    let mut violations: Vec<String> = history
        .push(&first)
        .iter()
        .map(|v| format!("{v:?}"))
        .collect();
    let (mut checked, mut switched, mut skips) = (1, false, 0);
    let mut target = next_request(&first);
    while started.elapsed() < TOTAL {
        if !switched && started.elapsed() >= SWITCH_AT {
            drop(camera.take());
            std::thread::sleep(Duration::from_secs(2));
            camera = Some(publisher(Clip::H264Small, &ports));
            switched = true;
        }
        let delta = checked % 10 == 0;
        let request = if delta {
            format!("{target}&_HLS_skip=YES")
        } else {
            target.clone()
        };
        let Some((200, playlist)) = http_get(ports.hls, &request) else {
            std::thread::sleep(Duration::from_millis(100));
            target = "/cam/stream.m3u8".into();
            continue;
        };
        skips += usize::from(playlist.contains("#EXT-X-SKIP"));
        let found = if delta {
            check_media_playlist(&playlist)
        } else {
            history.push(&playlist)
        };
        violations.extend(found.into_iter().map(|v| format!("{v:?}\n{playlist}")));
        target = next_request(&playlist);
        checked += 1;
    }
    let last = http_get(ports.hls, "/cam/stream.m3u8")
        .map(|(_, b)| b)
        .unwrap_or_default();
    println!("checked {checked} playlists ({skips} delta updates)");
    assert!(
        violations.is_empty(),
        "RFC violations:\n{}",
        violations.join("\n---\n")
    );
    assert!(checked > 300, "only {checked} playlists in two minutes");
    assert!(skips > 0, "delta updates were served");
    assert!(
        last.contains("#EXT-X-DISCONTINUITY")
            || vigia.logs().contains("muxer follows the new stream"),
        "{last}"
    );
    assert!(
        last.contains("init1.mp4") || last.contains("init2.mp4"),
        "a new init section after the resolution change:\n{last}"
    );
    drop(camera);
}
