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
