//! SQL over the schema of `migrations/`: runtime queries with bound parameters only (a value is
//! never spliced into SQL text), each taking the connection or transaction it runs in so that
//! a change and its outbox row commit together.

use sqlx::{PgConnection, Postgres, QueryBuilder};
use uuid::Uuid;

use crate::Error;
use crate::extract::ListParams;
use crate::model::{Camera, City, Occurrence, Page, Plan};

const PLAN_COLUMNS: &str = "id, name, retention_days, quota_gb, created_at, updated_at";
const CITY_COLUMNS: &str = "id, ibge_code, name, uf, cnpj, storage_plan_id, created_at, updated_at";
const CAMERA_COLUMNS: &str = "id, city_id, name, location, rtsp_url, username, password_sealed, \
     record, status, status_reason, status_at, created_at, updated_at";

/// Inserts a plan.
pub async fn insert_plan(db: &mut PgConnection, p: &Plan) -> Result<(), Error> {
    sqlx::query(
        "INSERT INTO storage_plans (id, name, retention_days, quota_gb) VALUES ($1, $2, $3, $4)",
    )
    .bind(p.id)
    .bind(&p.name)
    .bind(p.retention_days)
    .bind(p.quota_gb)
    .execute(db)
    .await
    .map_err(Error::from_constraint)?;
    Ok(())
}

/// Replaces a plan's fields; `None` when there is no such plan.
pub async fn update_plan(db: &mut PgConnection, p: &Plan) -> Result<Option<Plan>, Error> {
    let sql = format!(
        "UPDATE storage_plans SET name = $2, retention_days = $3, quota_gb = $4, \
         updated_at = now() WHERE id = $1 RETURNING {PLAN_COLUMNS}"
    );
    sqlx::query_as(&sql)
        .bind(p.id)
        .bind(&p.name)
        .bind(p.retention_days)
        .bind(p.quota_gb)
        .fetch_optional(db)
        .await
        .map_err(Error::from_constraint)
}

/// One plan.
pub async fn plan(db: &mut PgConnection, id: Uuid) -> Result<Option<Plan>, Error> {
    let sql = format!("SELECT {PLAN_COLUMNS} FROM storage_plans WHERE id = $1");
    Ok(sqlx::query_as(&sql).bind(id).fetch_optional(db).await?)
}

/// One plan, share-locked until the transaction ends (so it cannot change under an event that
/// carries it).
pub async fn plan_for_share(db: &mut PgConnection, id: Uuid) -> Result<Option<Plan>, Error> {
    let sql = format!("SELECT {PLAN_COLUMNS} FROM storage_plans WHERE id = $1 FOR SHARE");
    Ok(sqlx::query_as(&sql).bind(id).fetch_optional(db).await?)
}

/// A page of plans, by name.
pub async fn plans(db: &mut PgConnection, p: &ListParams) -> Result<Page<Plan>, Error> {
    let filter = |q: &mut Query<'_>| name_filter(q, p);
    page(db, PLAN_COLUMNS, "storage_plans", filter, p, "name, id").await
}

/// Inserts a city.
pub async fn insert_city(db: &mut PgConnection, c: &City) -> Result<(), Error> {
    sqlx::query(
        "INSERT INTO cities (id, ibge_code, name, uf, cnpj, storage_plan_id) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(c.id)
    .bind(&c.ibge_code)
    .bind(&c.name)
    .bind(&c.uf)
    .bind(&c.cnpj)
    .bind(c.storage_plan_id)
    .execute(db)
    .await
    .map_err(Error::from_constraint)?;
    Ok(())
}

/// Replaces a city's fields, returning the city before and after (`None`: no such city).
pub async fn update_city(db: &mut PgConnection, c: &City) -> Result<Option<(City, City)>, Error> {
    let sql = format!("SELECT {CITY_COLUMNS} FROM cities WHERE id = $1 FOR UPDATE");
    let before: Option<City> = sqlx::query_as(&sql)
        .bind(c.id)
        .fetch_optional(&mut *db)
        .await?;
    let Some(before) = before else {
        return Ok(None);
    };
    let sql = format!(
        "UPDATE cities SET ibge_code = $2, name = $3, uf = $4, cnpj = $5, storage_plan_id = $6, \
         updated_at = now() WHERE id = $1 RETURNING {CITY_COLUMNS}"
    );
    let after = sqlx::query_as(&sql)
        .bind(c.id)
        .bind(&c.ibge_code)
        .bind(&c.name)
        .bind(&c.uf)
        .bind(&c.cnpj)
        .bind(c.storage_plan_id)
        .fetch_one(db)
        .await
        .map_err(Error::from_constraint)?;
    Ok(Some((before, after)))
}

/// One city.
pub async fn city(db: &mut PgConnection, id: Uuid) -> Result<Option<City>, Error> {
    let sql = format!("SELECT {CITY_COLUMNS} FROM cities WHERE id = $1");
    Ok(sqlx::query_as(&sql).bind(id).fetch_optional(db).await?)
}

/// One city, share-locked until the transaction ends (so its plan cannot change under a camera
/// event).
pub async fn city_for_share(db: &mut PgConnection, id: Uuid) -> Result<Option<City>, Error> {
    let sql = format!("SELECT {CITY_COLUMNS} FROM cities WHERE id = $1 FOR SHARE");
    Ok(sqlx::query_as(&sql).bind(id).fetch_optional(db).await?)
}

/// The cities on a plan, locked until the transaction ends.
pub async fn cities_on_plan(db: &mut PgConnection, plan: Uuid) -> Result<Vec<City>, Error> {
    let sql = format!(
        "SELECT {CITY_COLUMNS} FROM cities WHERE storage_plan_id = $1 ORDER BY id FOR SHARE"
    );
    Ok(sqlx::query_as(&sql).bind(plan).fetch_all(db).await?)
}

/// A page of cities, by name, filtered by `uf`, `name` and the caller's scope.
pub async fn cities(db: &mut PgConnection, p: &ListParams) -> Result<Page<City>, Error> {
    let filter = |q: &mut Query<'_>| {
        name_filter(q, p);
        if let Some(uf) = &p.uf {
            q.push(" AND uf = ").push_bind(uf.clone());
        }
        scope_filter(q, "id", p);
    };
    page(db, CITY_COLUMNS, "cities", filter, p, "name, id").await
}

/// Inserts a camera.
pub async fn insert_camera(db: &mut PgConnection, c: &Camera) -> Result<Camera, Error> {
    let sql = format!(
        "INSERT INTO cameras (id, city_id, name, location, rtsp_url, username, password_sealed, \
         record) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING {CAMERA_COLUMNS}"
    );
    sqlx::query_as(&sql)
        .bind(c.id)
        .bind(c.city_id)
        .bind(&c.name)
        .bind(&c.location)
        .bind(&c.rtsp_url)
        .bind(&c.username)
        .bind(&c.password_sealed)
        .bind(c.record)
        .fetch_one(db)
        .await
        .map_err(Error::from_constraint)
}

/// Replaces a camera's fields (not its status); `None` when there is no such camera.
pub async fn update_camera(db: &mut PgConnection, c: &Camera) -> Result<Option<Camera>, Error> {
    let sql = format!(
        "UPDATE cameras SET city_id = $2, name = $3, location = $4, rtsp_url = $5, \
         username = $6, password_sealed = $7, record = $8, updated_at = now() \
         WHERE id = $1 RETURNING {CAMERA_COLUMNS}"
    );
    sqlx::query_as(&sql)
        .bind(c.id)
        .bind(c.city_id)
        .bind(&c.name)
        .bind(&c.location)
        .bind(&c.rtsp_url)
        .bind(&c.username)
        .bind(&c.password_sealed)
        .bind(c.record)
        .fetch_optional(db)
        .await
        .map_err(Error::from_constraint)
}

/// Deletes a camera, returning it; `None` when there was none.
pub async fn delete_camera(db: &mut PgConnection, id: Uuid) -> Result<Option<Camera>, Error> {
    let sql = format!("DELETE FROM cameras WHERE id = $1 RETURNING {CAMERA_COLUMNS}");
    Ok(sqlx::query_as(&sql).bind(id).fetch_optional(db).await?)
}

/// One camera.
pub async fn camera(db: &mut PgConnection, id: Uuid) -> Result<Option<Camera>, Error> {
    let sql = format!("SELECT {CAMERA_COLUMNS} FROM cameras WHERE id = $1");
    Ok(sqlx::query_as(&sql).bind(id).fetch_optional(db).await?)
}

/// A page of cameras, by name, filtered by city, status, name and the caller's scope.
pub async fn cameras(db: &mut PgConnection, p: &ListParams) -> Result<Page<Camera>, Error> {
    let filter = |q: &mut Query<'_>| {
        name_filter(q, p);
        if let Some(city) = p.city_id {
            q.push(" AND city_id = ").push_bind(city);
        }
        if let Some(status) = &p.status {
            q.push(" AND status = ").push_bind(status.clone());
        }
        scope_filter(q, "city_id", p);
    };
    page(db, CAMERA_COLUMNS, "cameras", filter, p, "name, id").await
}

/// A page of a city's occurrences, newest first.
pub async fn occurrences(
    db: &mut PgConnection,
    city: Uuid,
    p: &ListParams,
) -> Result<Page<Occurrence>, Error> {
    let columns = "id, city_id, camera_id, kind, detail, occurred_at";
    let filter = |q: &mut Query<'_>| {
        q.push(" AND city_id = ").push_bind(city);
    };
    page(
        db,
        columns,
        "occurrences",
        filter,
        p,
        "occurred_at DESC, id DESC",
    )
    .await
}

type Query<'a> = QueryBuilder<'a, Postgres>;

/// `AND <column> = ANY(<the caller's cities>)` when the list is scoped.
fn scope_filter(q: &mut Query<'_>, column: &str, p: &ListParams) {
    if let Some(cities) = &p.scope {
        q.push(format!(" AND {column} = ANY("))
            .push_bind(cities.clone())
            .push(")");
    }
}

/// `AND name ILIKE '%…%'` with `%`, `_` and `\` in the filter matched literally.
fn name_filter(q: &mut Query<'_>, p: &ListParams) {
    let Some(name) = p.name.as_deref().filter(|n| !n.is_empty()) else {
        return;
    };
    let escaped = name
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    q.push(" AND name ILIKE ").push_bind(format!("%{escaped}%"));
}

/// One page of `table`'s rows that pass `filter` (which appends `AND …` conditions), in
/// `order`, and the count of every row that passes.
async fn page<T>(
    db: &mut PgConnection,
    columns: &str,
    table: &str,
    filter: impl Fn(&mut Query<'_>),
    p: &ListParams,
    order: &str,
) -> Result<Page<T>, Error>
where
    T: for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow> + Send + Unpin,
{
    let mut q = Query::new(format!("SELECT {columns} FROM {table} WHERE TRUE"));
    filter(&mut q);
    q.push(format!(" ORDER BY {order} LIMIT "))
        .push_bind(i64::from(p.per_page))
        .push(" OFFSET ")
        .push_bind(p.offset());
    let items = q.build_query_as::<T>().fetch_all(&mut *db).await?;
    let mut c = Query::new(format!("SELECT count(*) FROM {table} WHERE TRUE"));
    filter(&mut c);
    let total: i64 = c.build_query_scalar().fetch_one(db).await?;
    Ok(Page {
        items,
        page: p.page,
        per_page: p.per_page,
        total,
    })
}
