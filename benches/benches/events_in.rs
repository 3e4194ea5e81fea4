//! The events-in path per event, the library part of what vigia does with each `camera.created`
//! of a burst (issue 8: under 1 ms of CPU per event).
//!
//! Fixture: 1 000 `camera.created` events as they arrive on the queue (CloudEvents JSON, ~900
//! bytes each), every camera with a login whose password is sealed with
//! [`example_keyring`](vigia_events::example_keyring), as Cidades sends them.
//!
//! - `decode`: [`Event::from_slice`] (JSON, envelope and payload checks).
//! - `open_login`: [`Camera::pull_url`], which opens the sealed password (AES-256-GCM).
//! - `apply`: [`CameraRegistry::apply`] of the camera, on a registry that grows to 1 000.
//! - `burst`: the three for each of the 1 000 events onto an empty registry, plus the state
//!   file's JSON as the server writes it since group commit: the whole registry serialized
//!   (compact) once per group of [`GROUP`] events, the most a group can hold (the consumer's
//!   prefetch: no more events are unacked at once). Serialize only: the bench does no I/O.
//! - `burst_save_each_pretty`: the same with the state serialized pretty after every event, as
//!   the server did before group commit (for comparison).
//!
//! Criterion's throughput is per event. Runs with wall time and with
//! [`ThreadCpuTime`](vigia_benches::ThreadCpuTime) (groups suffixed `_cpu`).

use std::hint::black_box;

use criterion::measurement::Measurement;
use criterion::{BatchSize, Criterion, Throughput};
use vigia_events::registry::{CameraEvent, CameraRegistry, CameraSpec, Version};
use vigia_events::{Camera, Event, EventData, Keyring, example_keyring, examples};

/// Events in the burst.
const EVENTS: usize = 1_000;
/// Events whose changes one save of the state file holds at most (the consumer's prefetch).
const GROUP: usize = 32;

/// [`EVENTS`] `camera.created` bodies, each camera's password sealed for it.
fn bodies(keyring: &Keyring) -> Vec<Vec<u8>> {
    let template = examples().remove(0);
    let EventData::CameraCreated(camera) = &template.data else {
        unreachable!("the first example is a camera.created");
    };
    (0..EVENTS)
        .map(|i| {
            let mut cam = camera.clone();
            cam.camera_id = format!("cam-{i:04}");
            cam.rtsp_url = format!(
                "rtsp://10.20.{}.{}:554/Streaming/Channels/101",
                i / 250,
                i % 250
            );
            cam.set_login(keyring, "vigia", "s3cret");
            let mut event = Event::new("/cidades", EventData::CameraCreated(cam));
            event.correlation_id = format!("corr-{i:04}");
            event.to_json().to_string().into_bytes()
        })
        .collect()
}

/// The registry's view of a decoded `camera.created`, its password opened (as the server's
/// camera driver builds it).
fn upsert(event: &Event, keyring: &Keyring) -> CameraEvent {
    let EventData::CameraCreated(camera) = &event.data else {
        unreachable!("camera.created");
    };
    CameraEvent::Upsert(
        Version::of(event),
        spec(camera, keyring, &event.correlation_id),
    )
}

fn spec(camera: &Camera, keyring: &Keyring, correlation_id: &str) -> CameraSpec {
    let source = camera.pull_url(Some(keyring)).expect("the password opens");
    CameraSpec {
        camera_id: camera.camera_id.clone(),
        city_id: camera.city_id.clone(),
        source: source.expose().to_owned(),
        record: camera.record,
        retention_days: camera.storage_plan.retention_days,
        correlation_id: correlation_id.to_owned(),
    }
}

/// Decodes and applies every body onto an empty registry; `save(i, registry)` after each.
fn burst(bodies: &[Vec<u8>], keyring: &Keyring, save: impl Fn(usize, &CameraRegistry)) {
    let mut registry = CameraRegistry::default();
    for (i, body) in bodies.iter().enumerate() {
        let event = Event::from_slice(body).expect("valid event");
        black_box(registry.apply(upsert(&event, keyring)));
        save(i, &registry);
    }
}

fn bench_events_in<M: Measurement>(c: &mut Criterion<M>, name: &str) {
    let keyring = example_keyring();
    let bodies = bodies(&keyring);
    let events: Vec<Event> = bodies
        .iter()
        .map(|b| Event::from_slice(b).unwrap())
        .collect();
    let upserts: Vec<CameraEvent> = events.iter().map(|e| upsert(e, &keyring)).collect();
    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Elements(EVENTS as u64));
    group.bench_function("decode", |b| {
        b.iter(|| {
            bodies
                .iter()
                .for_each(|body| drop(black_box(Event::from_slice(body))))
        })
    });
    group.bench_function("open_login", |b| {
        b.iter(|| {
            events
                .iter()
                .for_each(|e| drop(black_box(upsert(e, &keyring))))
        })
    });
    group.bench_function("apply", |b| {
        b.iter_batched(
            || (CameraRegistry::default(), upserts.clone()),
            |(mut registry, upserts)| {
                upserts
                    .into_iter()
                    .for_each(|u| drop(black_box(registry.apply(u))));
                registry
            },
            BatchSize::LargeInput,
        )
    });
    group.bench_function("burst", |b| {
        b.iter(|| {
            burst(&bodies, &keyring, |i, registry| {
                if (i + 1) % GROUP == 0 || i + 1 == EVENTS {
                    black_box(serde_json::to_vec(registry).unwrap());
                }
            })
        })
    });
    group.bench_function("burst_save_each_pretty", |b| {
        b.iter(|| {
            burst(&bodies, &keyring, |_, registry| {
                black_box(serde_json::to_vec_pretty(registry).unwrap());
            })
        })
    });
    group.finish();
}

fn print_sizes() {
    let keyring = example_keyring();
    let bodies = bodies(&keyring);
    let mut registry = CameraRegistry::default();
    for body in &bodies {
        registry.apply(upsert(&Event::from_slice(body).unwrap(), &keyring));
    }
    let average = bodies.iter().map(Vec::len).sum::<usize>() / bodies.len();
    let state = serde_json::to_vec(&registry).unwrap().len();
    let pretty = serde_json::to_vec_pretty(&registry).unwrap().len();
    println!(
        "{EVENTS} events of {average} bytes on average; state of {EVENTS} cameras: {state} bytes \
         compact, {pretty} pretty"
    );
}

fn main() {
    vigia_benches::run_wall_and_cpu(
        |c| {
            print_sizes();
            bench_events_in(c, "events_in");
        },
        |c| bench_events_in(c, "events_in_cpu"),
    );
}
