//! The events Cidades sends, built from its rows: `camera.created/updated` (with the password
//! re-sealed for the bus), `camera.deleted`, `city.storage_plan_changed`.

use vigia_events::{
    Camera as CameraEvent, CameraDeleted, CityStoragePlanChanged, Cnpj, Event, EventData, Keyring,
    StoragePlan,
};

use crate::Error;
use crate::crypto::AtRest;
use crate::model::{Camera, City, Plan};

/// CloudEvents `source` of every event Cidades sends.
pub const SOURCE: &str = "/cidades";

/// The keys camera passwords are sealed with: at rest, and for the bus.
#[derive(Debug, Clone, Default)]
pub struct Keys {
    /// Cidades' own keys (`CIDADES_SECRET_KEYS`); `None` refuses camera passwords.
    pub at_rest: Option<AtRest>,
    /// The bus keys (`VIGIA_EVENTS_KEYS`); `None` refuses camera passwords.
    pub bus: Option<Keyring>,
}

/// The contract's storage plan of `plan`.
pub fn storage_plan(plan: &Plan) -> StoragePlan {
    StoragePlan {
        plan_id: plan.id.to_string(),
        // The schema keeps retention_days in 1..=3650.
        retention_days: u32::try_from(plan.retention_days).unwrap_or(1),
    }
}

/// `camera.created` (`created`) or `camera.updated` for `camera`, following `plan` (its city's),
/// with the stored password opened and sealed again with the bus key.
pub fn camera_event(
    keys: &Keys,
    camera: &Camera,
    plan: &Plan,
    created: bool,
) -> Result<Event, Error> {
    let mut data = CameraEvent {
        camera_id: camera.id.to_string(),
        city_id: camera.city_id.to_string(),
        name: camera.name.clone(),
        rtsp_url: camera.rtsp_url.clone(),
        credentials: None,
        record: camera.record,
        storage_plan: storage_plan(plan),
    };
    if let (Some(user), Some(sealed)) = (&camera.username, &camera.password_sealed) {
        let (Some(at_rest), Some(bus)) = (&keys.at_rest, &keys.bus) else {
            return Err(Error::Secret(
                "no keys to re-seal the camera password".into(),
            ));
        };
        let password = at_rest.open(&data.camera_id, sealed)?;
        data.set_login(bus, user, &password);
    }
    let data = match created {
        true => EventData::CameraCreated(data),
        false => EventData::CameraUpdated(data),
    };
    Ok(Event::new(SOURCE, data))
}

/// `camera.deleted` for `camera`.
pub fn camera_deleted(camera: &Camera) -> Event {
    Event::new(
        SOURCE,
        EventData::CameraDeleted(CameraDeleted {
            camera_id: camera.id.to_string(),
            city_id: camera.city_id.to_string(),
        }),
    )
}

/// `city.storage_plan_changed` for `city` now following `plan`.
pub fn plan_changed(city: &City, plan: &Plan) -> Result<Event, Error> {
    let cnpj = Cnpj::parse(&city.cnpj).map_err(|e| Error::invalid("cnpj", e.to_string()))?;
    Ok(Event::new(
        SOURCE,
        EventData::CityStoragePlanChanged(CityStoragePlanChanged {
            city_id: city.id.to_string(),
            city_hall_cnpj: cnpj,
            storage_plan: storage_plan(plan),
        }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const REST: &str = "rest:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
    const BUS: &str = "bus:AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=";

    fn plan() -> Plan {
        Plan {
            id: uuid::Uuid::new_v4(),
            name: "P".into(),
            retention_days: 45,
            quota_gb: 1,
            created_at: chrono::Utc::now(),
            updated_at: chrono::Utc::now(),
        }
    }

    fn camera(keys: &Keys, password: Option<&str>) -> Camera {
        let id = uuid::Uuid::new_v4();
        let sealed = password.map(|p| keys.at_rest.as_ref().unwrap().seal(&id.to_string(), p));
        Camera {
            id,
            city_id: uuid::Uuid::new_v4(),
            name: "Cam".into(),
            location: String::new(),
            rtsp_url: "rtsp://10.0.0.1/s".into(),
            username: password.map(|_| "admin".into()),
            password_sealed: sealed,
            record: true,
            status: "unknown".into(),
            status_reason: None,
            status_at: None,
            created_at: chrono::Utc::now(),
            updated_at: chrono::Utc::now(),
        }
    }

    fn keys() -> Keys {
        Keys {
            at_rest: Some(AtRest::new(Keyring::parse(REST).unwrap())),
            bus: Some(Keyring::parse(BUS).unwrap()),
        }
    }

    #[test]
    fn camera_event_reseals_the_password_for_the_bus() {
        let keys = keys();
        let cam = camera(&keys, Some("pw"));
        let plan = plan();
        let event = camera_event(&keys, &cam, &plan, true).unwrap();
        let EventData::CameraCreated(c) = &event.data else {
            panic!("{:?}", event.event_type());
        };
        assert_eq!(c.storage_plan, storage_plan(&plan));
        assert_eq!(c.credentials.as_ref().unwrap().password.key_id(), "bus");
        let login = c.login(keys.bus.as_ref()).unwrap().unwrap();
        assert_eq!(
            (login.username.as_str(), login.password.as_str()),
            ("admin", "pw")
        );
        assert_eq!(event.source, SOURCE);
        let again = Event::from_slice(&event.to_bytes()).unwrap();
        assert_eq!(again.data, event.data, "a valid event of the contract");
    }

    #[test]
    fn camera_event_without_password_or_keys() {
        let keys = keys();
        let cam = camera(&keys, None);
        let event = camera_event(&Keys::default(), &cam, &plan(), false).unwrap();
        assert!(matches!(&event.data, EventData::CameraUpdated(c) if c.credentials.is_none()));
        let with_password = camera(&keys, Some("pw"));
        assert!(camera_event(&Keys::default(), &with_password, &plan(), true).is_err());
    }
}
