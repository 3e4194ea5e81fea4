//! Path behaviours MediaMTX users rely on: `overridePublisher` and `sourceOnDemand`.

use std::time::Duration;

use vigia_conformance::clips::Clip;
use vigia_conformance::probe::ffprobe;
use vigia_conformance::{Background, Ports, Vigia};

fn publisher(ports: &Ports, path: &str) -> Background {
    Clip::H264Aac.publish(&ports.rtsp_url(path), "tcp")
}

/// Asserts that `text` shows up in the logs within 15 s; the failure message is the logs.
fn assert_logged(vigia: &Vigia, text: &str) {
    assert!(
        vigia.logs_soon_contain(text, Duration::from_secs(15)),
        "{}",
        vigia.logs()
    );
}

#[test]
fn a_second_publisher_replaces_the_first_unless_override_is_off() {
    let (vigia, ports) = Vigia::start_on_fresh_ports(
        "paths:\n  locked:\n    overridePublisher: no\n  all_others:\n",
    );

    let mut first = publisher(&ports, "open");
    assert_logged(&vigia, "publisher 1 is publishing");
    let _second = publisher(&ports, "open");
    assert_logged(&vigia, "publisher 2 is publishing");
    assert_logged(&vigia, "another publisher took over");
    assert!(
        first.exits_within(Duration::from_secs(10)),
        "the replaced publisher is disconnected"
    );

    let _owner = publisher(&ports, "locked");
    assert_logged(&vigia, "path=locked");
    let mut intruder = publisher(&ports, "locked");
    assert!(
        intruder.exits_within(Duration::from_secs(10)),
        "a second publisher is refused when overridePublisher is off"
    );
    assert!(
        vigia
            .logs()
            .contains("someone is already publishing to path 'locked'"),
        "{}",
        vigia.logs()
    );
}

#[test]
fn on_demand_source_starts_with_a_reader_and_closes_after_the_last() {
    let (vigia, ports) = Vigia::start_on_fresh_ports(
        "paths:\n  lazy:\n    source: synthetic\n    sourceOnDemand: yes\n    sourceOnDemandCloseAfter: 1s\n",
    );
    std::thread::sleep(Duration::from_secs(1));
    assert!(
        !vigia.logs().contains("source is ready"),
        "on-demand source started early"
    );
    let probe = ffprobe(
        &ports.rtsp_url("lazy"),
        &["-rtsp_transport", "tcp"],
        Some(2),
    );
    assert_eq!(
        probe.stream("video").map(|s| s.codec.as_str()),
        Some("h264"),
        "{}",
        vigia.logs()
    );
    assert_logged(&vigia, "on-demand source closed");
}
