//! The use cases: each validates its input, then changes rows and writes the events they cause
//! to the outbox in one transaction, then invalidates the cache after the commit.

use std::sync::Arc;

use sqlx::{PgConnection, PgPool};
use uuid::Uuid;
use vigia_events::Cnpj;

use crate::auth::Verifier;
use crate::cache::Cache;
use crate::events::{self, Keys};
use crate::model::{Camera, CameraInput, City, CityInput, Plan, PlanInput};
use crate::{Error, outbox, store, validate};

/// What every request needs: the database, the cache and the keys.
#[derive(Debug, Clone)]
pub struct State {
    /// PostgreSQL.
    pub pool: PgPool,
    /// Redis (or a disabled cache).
    pub cache: Cache,
    /// Password keys.
    pub keys: Keys,
    /// Checks access tokens (`None`: authentication disabled).
    pub verifier: Option<Arc<Verifier>>,
}

impl State {
    /// Creates a plan.
    pub async fn create_plan(&self, input: PlanInput) -> Result<Plan, Error> {
        let plan = plan_from(Uuid::new_v4(), input)?;
        let mut tx = self.pool.begin().await?;
        store::insert_plan(&mut tx, &plan).await?;
        let plan = store::plan(&mut tx, plan.id)
            .await?
            .ok_or(Error::NotFound("plan"))?;
        tx.commit().await?;
        Ok(plan)
    }

    /// Changes a plan; every city on it gets a `city.storage_plan_changed`.
    pub async fn update_plan(&self, id: Uuid, input: PlanInput) -> Result<Plan, Error> {
        let plan = plan_from(id, input)?;
        let mut tx = self.pool.begin().await?;
        // Lock order city → plan, as every camera change takes them, so the two never deadlock;
        // the cities are read again after the plan's lock, to include one that just moved onto it.
        store::cities_on_plan(&mut tx, id).await?;
        let plan = store::update_plan(&mut tx, &plan)
            .await?
            .ok_or(Error::NotFound("plan"))?;
        for city in store::cities_on_plan(&mut tx, id).await? {
            outbox::enqueue(&mut tx, &events::plan_changed(&city, &plan)?).await?;
        }
        tx.commit().await?;
        self.cache.delete(&self.cache.plan_key(id)).await;
        Ok(plan)
    }

    /// Creates a city.
    pub async fn create_city(&self, input: CityInput) -> Result<City, Error> {
        let city = city_from(Uuid::new_v4(), input)?;
        let mut tx = self.pool.begin().await?;
        store::insert_city(&mut tx, &city).await?;
        let city = store::city(&mut tx, city.id)
            .await?
            .ok_or(Error::NotFound("city"))?;
        tx.commit().await?;
        Ok(city)
    }

    /// Changes a city; a new plan sends `city.storage_plan_changed`.
    pub async fn update_city(&self, id: Uuid, input: CityInput) -> Result<City, Error> {
        let city = city_from(id, input)?;
        let mut tx = self.pool.begin().await?;
        let (before, after) = store::update_city(&mut tx, &city)
            .await?
            .ok_or(Error::NotFound("city"))?;
        if before.storage_plan_id != after.storage_plan_id {
            let plan = plan_of(&mut tx, &after).await?;
            outbox::enqueue(&mut tx, &events::plan_changed(&after, &plan)?).await?;
        }
        tx.commit().await?;
        self.cache.delete(&self.cache.city_key(id)).await;
        Ok(after)
    }

    /// Creates a camera and sends `camera.created`.
    pub async fn create_camera(&self, input: CameraInput) -> Result<Camera, Error> {
        let id = Uuid::new_v4();
        let camera = self.camera_from(id, input, None)?;
        let mut tx = self.pool.begin().await?;
        let plan = self.city_plan(&mut tx, camera.city_id).await?;
        let camera = store::insert_camera(&mut tx, &camera).await?;
        let event = events::camera_event(&self.keys, &camera, &plan, true)?;
        outbox::enqueue(&mut tx, &event).await?;
        tx.commit().await?;
        self.cache.invalidate_cameras().await;
        Ok(camera)
    }

    /// Replaces a camera's fields and sends `camera.updated`. A PUT without `password` keeps the
    /// stored one if the username and URL are unchanged.
    pub async fn update_camera(&self, id: Uuid, input: CameraInput) -> Result<Camera, Error> {
        let mut tx = self.pool.begin().await?;
        let before = store::camera(&mut tx, id)
            .await?
            .ok_or(Error::NotFound("camera"))?;
        let camera = self.camera_from(id, input, Some(&before))?;
        let plan = self.city_plan(&mut tx, camera.city_id).await?;
        let camera = store::update_camera(&mut tx, &camera)
            .await?
            .ok_or(Error::NotFound("camera"))?;
        let event = events::camera_event(&self.keys, &camera, &plan, false)?;
        outbox::enqueue(&mut tx, &event).await?;
        tx.commit().await?;
        self.cache.invalidate_cameras().await;
        Ok(camera)
    }

    /// Deletes a camera and sends `camera.deleted`.
    pub async fn delete_camera(&self, id: Uuid) -> Result<(), Error> {
        let mut tx = self.pool.begin().await?;
        let camera = store::delete_camera(&mut tx, id)
            .await?
            .ok_or(Error::NotFound("camera"))?;
        outbox::enqueue(&mut tx, &events::camera_deleted(&camera)).await?;
        tx.commit().await?;
        self.cache.invalidate_cameras().await;
        Ok(())
    }

    /// The plan of city `city_id`, which must exist (else 422 naming `cityId`); the city row
    /// stays locked so its plan cannot change before the camera event commits.
    async fn city_plan(&self, tx: &mut PgConnection, city_id: Uuid) -> Result<Plan, Error> {
        let city = store::city_for_share(tx, city_id)
            .await?
            .ok_or_else(|| Error::invalid("cityId", "unknown city"))?;
        plan_of(tx, &city).await
    }

    /// A camera row from `input`, the password sealed at rest.
    fn camera_from(
        &self,
        id: Uuid,
        input: CameraInput,
        before: Option<&Camera>,
    ) -> Result<Camera, Error> {
        let rtsp_url = validate::rtsp_url(&input.rtsp_url)?;
        let username = match input.username.as_deref() {
            Some(u) => Some(validate::text("username", u, true)?),
            None => None,
        };
        let password_sealed = self.sealed_password(id, &input, &username, &rtsp_url, before)?;
        Ok(Camera {
            id,
            city_id: input.city_id,
            name: validate::text("name", &input.name, true)?,
            location: validate::text("location", &input.location, false)?,
            rtsp_url,
            username,
            password_sealed,
            record: input.record,
            status: "unknown".into(),
            status_reason: None,
            status_at: None,
            created_at: chrono::Utc::now(),
            updated_at: chrono::Utc::now(),
        })
    }

    fn sealed_password(
        &self,
        id: Uuid,
        input: &CameraInput,
        username: &Option<String>,
        rtsp_url: &str,
        before: Option<&Camera>,
    ) -> Result<Option<serde_json::Value>, Error> {
        let Some(password) = &input.password else {
            return kept_password(username, rtsp_url, before);
        };
        if username.is_none() {
            return Err(Error::invalid("username", "a password needs a username"));
        }
        if password.is_empty() || password.len() > 256 {
            return Err(Error::invalid("password", "must have 1 to 256 bytes"));
        }
        let (Some(at_rest), Some(_)) = (&self.keys.at_rest, &self.keys.bus) else {
            return Err(Error::invalid(
                "password",
                "this Cidades has no keys for camera passwords (CIDADES_SECRET_KEYS and VIGIA_EVENTS_KEYS)",
            ));
        };
        Ok(Some(at_rest.seal(&id.to_string(), password)))
    }
}

/// The stored password of `before` for a PUT without one: kept while the username and URL stay;
/// none when the username is removed; refused when either changed, so an edit cannot send the
/// stored password to another server or user (send it again).
fn kept_password(
    username: &Option<String>,
    rtsp_url: &str,
    before: Option<&Camera>,
) -> Result<Option<serde_json::Value>, Error> {
    let Some(before) = before.filter(|b| b.password_sealed.is_some() && username.is_some()) else {
        return Ok(None);
    };
    if before.username != *username || before.rtsp_url != rtsp_url {
        return Err(Error::invalid(
            "password",
            "the username or RTSP URL changed: send the password again",
        ));
    }
    Ok(before.password_sealed.clone())
}

/// The plan of `city`, share-locked: an event carrying it and a change of the plan are ordered
/// by the lock, so the later event always carries the newer plan.
async fn plan_of(tx: &mut PgConnection, city: &City) -> Result<Plan, Error> {
    store::plan_for_share(tx, city.storage_plan_id)
        .await?
        .ok_or(Error::NotFound("plan"))
}

fn plan_from(id: Uuid, input: PlanInput) -> Result<Plan, Error> {
    Ok(Plan {
        id,
        name: validate::text("name", &input.name, true)?,
        retention_days: validate::retention_days(input.retention_days)?,
        quota_gb: validate::quota_gb(input.quota_gb)?,
        created_at: chrono::Utc::now(),
        updated_at: chrono::Utc::now(),
    })
}

fn city_from(id: Uuid, input: CityInput) -> Result<City, Error> {
    let cnpj = Cnpj::parse(&input.cnpj).map_err(|e| Error::invalid("cnpj", e.to_string()))?;
    Ok(City {
        id,
        ibge_code: validate::ibge_code(&input.ibge_code)?,
        name: validate::text("name", &input.name, true)?,
        uf: validate::uf(&input.uf)?,
        cnpj: cnpj.as_str().to_owned(),
        storage_plan_id: input.storage_plan_id,
        created_at: chrono::Utc::now(),
        updated_at: chrono::Utc::now(),
    })
}
