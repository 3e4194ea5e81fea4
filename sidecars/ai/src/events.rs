//! The contract payloads the service publishes, built from its results: `lpr.detected` from a
//! [`Pass`], `alert.triggered` from a watch list match (the daily report's payload is
//! [`crate::report::DayTally::payload`]). Wrap them with [`vigia_events::Event::new`] and
//! [`SOURCE`]; an alert is [`vigia_events::Event::caused_by`] its detection, so both share a
//! correlation id.

use vigia_events::{AlertTriggered, LprDetected};

use crate::pass::Pass;
use crate::watchlist::{MatchKind, WatchMatch};

/// The CloudEvents `source` of everything this service publishes.
pub const SOURCE: &str = "/vigia-ai";

/// The `lpr.detected` payload of a pass; `snapshot_key` is the object-store key of the crop,
/// when one was stored.
pub fn lpr_detected(pass: &Pass, snapshot_key: Option<String>) -> LprDetected {
    LprDetected {
        camera_id: pass.camera_id.clone(),
        plate: pass.plate.clone(),
        confidence: pass.confidence.clamp(0.0, 1.0),
        detected_at: pass.detected_at,
        snapshot_key,
        format: Some(pass.format),
        bounding_box: pass.bounding_box,
    }
}

/// The `alert.triggered` payload of a watch list match of `pass`, caused by the `lpr.detected`
/// event `cause_event_id`. The alert id is derived from the cause (`<cause id>/<kind>`), so a
/// detection replayed after a crash raises the same alert id and consumers drop the repeat.
pub fn watch_alert(m: &WatchMatch<'_>, pass: &Pass, cause_event_id: &str) -> AlertTriggered {
    let kind = m.kind.alert_kind();
    let when = pass
        .detected_at
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let (listed, reason, camera) = (&m.entry.plate, &m.entry.reason, &pass.camera_id);
    let message = match m.kind {
        MatchKind::Exact => format!(
            "Plate {} on the watch list ({reason}) seen by camera {camera} at {when}",
            pass.plate
        ),
        MatchKind::Possible => format!(
            "Plate {} seen by camera {camera} at {when} may be watch-listed {listed} \
             ({reason}): one look-alike character differs; check the picture",
            pass.plate
        ),
    };
    AlertTriggered {
        alert_id: format!("{cause_event_id}/{kind}"),
        camera_id: camera.clone(),
        kind: kind.to_owned(),
        severity: m.kind.severity(),
        message,
        cause_event_id: Some(cause_event_id.to_owned()),
    }
}

/// Checks built events against the contract's JSON Schemas in `events/schemas/`.
#[cfg(test)]
pub(crate) mod schema {
    use std::path::Path;

    use vigia_events::Event;

    /// Panics, listing every violation, unless `event` is valid against its type's schema and
    /// parses back through the events crate.
    pub(crate) fn assert_valid(event: &Event) {
        let ty = event.event_type();
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../events/schemas")
            .join(format!("{ty}.json"));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
        let schema: serde_json::Value = serde_json::from_str(&text).unwrap();
        let validator = jsonschema::options()
            .should_validate_formats(true)
            .build(&schema)
            .unwrap();
        let json = event.to_json();
        let errors: Vec<String> = validator
            .iter_errors(&json)
            .map(|e| format!("{e} at {}", e.instance_path))
            .collect();
        assert!(errors.is_empty(), "{ty}: {errors:?}\n{json:#}");
        // The envelope's time goes out in milliseconds; the rest comes back as it was.
        let back = Event::from_slice(&event.to_bytes()).unwrap();
        assert_eq!((&back.id, &back.data), (&event.id, &event.data));
    }
}

#[cfg(test)]
mod tests {
    use chrono::DateTime;
    use vigia_events::{Cnpj, Event, EventData, Severity};

    use super::*;
    use crate::plate::{PlateFormat, read_plate};
    use crate::watchlist::Watchlist;

    fn pass(plate: &str, confidence: f64) -> Pass {
        let at = DateTime::parse_from_rfc3339("2026-12-02T13:45:12.340Z")
            .unwrap()
            .to_utc();
        Pass {
            camera_id: "cam-12".into(),
            plate: read_plate(plate).unwrap().plate,
            format: PlateFormat::Mercosul,
            confidence,
            detected_at: at,
            first_seen: at,
            last_seen: at,
            frame: 7,
            snapshot: None,
            bounding_box: None,
            reads: 3,
        }
    }

    #[test]
    fn lpr_detected_follows_the_contract() {
        let payload = lpr_detected(&pass("ABC1D23", 0.93), Some("lpr/cam-12/1.jpg".into()));
        assert_eq!(payload.plate.as_str(), "ABC1D23");
        assert_eq!(payload.confidence, 0.93);
        let event = Event::new(SOURCE, EventData::LprDetected(payload));
        schema::assert_valid(&event);
        assert_eq!(
            event.to_json()["data"]["detectedAt"],
            "2026-12-02T13:45:12.340Z"
        );
        // Old plates too, and a confidence the vote pushed past 1 is clamped.
        let old = lpr_detected(&pass("XYZ-9876", 1.2), None);
        assert_eq!(old.confidence, 1.0);
        schema::assert_valid(&Event::new(SOURCE, EventData::LprDetected(old)));
    }

    #[test]
    fn alerts_follow_the_contract_and_name_the_match() {
        let list =
            Watchlist::parse("plates:\n  - plate: ABC1D23\n    reason: stolen\n", "w").unwrap();
        let cases = [
            (
                "ABC1D23",
                Severity::Critical,
                "plate_watchlist",
                "Plate ABC1D23 on the watch list (stolen) seen by camera cam-12 at 2026-12-02T13:45:12Z",
            ),
            (
                "ABC1O23",
                Severity::Warning,
                "plate_watchlist_possible",
                "Plate ABC1O23 seen by camera cam-12 at 2026-12-02T13:45:12Z may be watch-listed ABC1D23 (stolen)",
            ),
        ];
        for (read, severity, kind, message) in cases {
            let p = pass(read, 0.9);
            let detection = Event::new(SOURCE, EventData::LprDetected(lpr_detected(&p, None)));
            let m = list.lookup(&p.plate).unwrap();
            let alert = watch_alert(&m, &p, &detection.id);
            assert_eq!((alert.severity, alert.kind.as_str()), (severity, kind));
            assert!(alert.message.starts_with(message), "{}", alert.message);
            assert_eq!(alert.alert_id, format!("{}/{kind}", detection.id));
            assert_eq!(alert.cause_event_id.as_deref(), Some(detection.id.as_str()));
            let event = Event::caused_by(&detection, SOURCE, EventData::AlertTriggered(alert));
            assert_eq!(event.correlation_id, detection.correlation_id);
            schema::assert_valid(&event);
        }
    }

    #[test]
    fn daily_report_follows_the_contract() {
        let mut reports = crate::report::DailyReports::new(chrono::TimeDelta::zero());
        let p = pass("ABC1D23", 0.9);
        reports.record_camera_online("poa", "cam-12", p.detected_at);
        reports.record_detection("poa", "cam-12", &p.plate, p.detected_at);
        let due = reports.poll_due(p.detected_at + chrono::TimeDelta::days(1));
        let day = &due[0];
        let cnpj = Cnpj::parse("11222333000181").unwrap();
        let payload = day.tally.payload(&day.city_id, cnpj, day.date);
        let event = Event::new(SOURCE, EventData::AnalyticsDailyReport(payload));
        schema::assert_valid(&event);
        assert_eq!(event.to_json()["data"]["date"], "2026-12-02");
        assert_eq!(event.to_json()["data"]["lprDetections"], 1);
    }
}
