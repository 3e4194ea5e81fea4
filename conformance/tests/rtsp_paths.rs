//! Path behaviours MediaMTX users rely on: `overridePublisher` and `sourceOnDemand`.

use std::time::Duration;

use vigia_conformance::clips::Clip;
use vigia_conformance::probe::ffprobe;
use vigia_conformance::{Background, Ports, Vigia, eventually};

fn publisher(ports: &Ports, path: &str) -> Background {
    let args = Clip::H264Aac.publish_args(&ports.rtsp_url(path), "tcp");
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    Background::start("ffmpeg", &argv)
}

fn wait_log(vigia: &Vigia, text: &str) -> bool {
    eventually(Duration::from_secs(15), || {
        vigia.logs().contains(text).then_some(())
    })
    .is_some()
}

#[test]
fn a_second_publisher_replaces_the_first_unless_override_is_off() {
    let ports = Ports::fresh();
    let config = format!(
        "{}paths:\n  locked:\n    overridePublisher: no\n  all_others:\n",
        ports.yaml()
    );
    let vigia = Vigia::start(&config, ports.rtsp);

    let mut first = publisher(&ports, "open");
    assert!(
        wait_log(&vigia, "publisher 1 is publishing"),
        "{}",
        vigia.logs()
    );
    let _second = publisher(&ports, "open");
    assert!(
        wait_log(&vigia, "publisher 2 is publishing"),
        "{}",
        vigia.logs()
    );
    assert!(
        wait_log(&vigia, "another publisher took over"),
        "{}",
        vigia.logs()
    );
    let first_exited = eventually(Duration::from_secs(10), || {
        (!first.is_running()).then_some(())
    });
    assert!(
        first_exited.is_some(),
        "the replaced publisher is disconnected"
    );

    let _owner = publisher(&ports, "locked");
    assert!(wait_log(&vigia, "path=locked"), "{}", vigia.logs());
    let mut intruder = publisher(&ports, "locked");
    let refused = eventually(Duration::from_secs(10), || {
        (!intruder.is_running()).then_some(())
    });
    assert!(
        refused.is_some(),
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
    let ports = Ports::fresh();
    let config = format!(
        "{}paths:\n  lazy:\n    source: synthetic\n    sourceOnDemand: yes\n    sourceOnDemandCloseAfter: 1s\n",
        ports.yaml()
    );
    let vigia = Vigia::start(&config, ports.rtsp);
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
    assert!(
        wait_log(&vigia, "on-demand source closed"),
        "{}",
        vigia.logs()
    );
}
