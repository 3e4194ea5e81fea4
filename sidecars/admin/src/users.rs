//! Users and their roles per city.
//!
//! Passwords are hashed with Argon2id (the `argon2` crate's defaults: 19 MiB, 2 passes) and a
//! random salt, on a blocking thread. A user and its roles are written in one transaction.

use std::collections::BTreeMap;

use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::{Error, validate};

/// The body of `POST /v1/users`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UserInput {
    /// Login e-mail.
    pub email: String,
    /// CPF, with or without punctuation.
    pub cpf: String,
    /// Display name.
    pub name: String,
    /// Clear password (hashed before storage).
    pub password: String,
    /// Roles per city.
    #[serde(default)]
    pub roles: Vec<RoleInput>,
}

/// A role in a city.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RoleInput {
    /// The city (Cidades' id).
    pub city_id: Uuid,
    /// `admin`, `operator` or `viewer`.
    pub role: String,
}

/// A user as the API shows it (never the password hash).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    /// Id.
    pub id: Uuid,
    /// E-mail.
    pub email: String,
    /// CPF, formatted.
    pub cpf: String,
    /// Display name.
    pub name: String,
    /// Administers every city.
    pub superadmin: bool,
    /// Roles per city.
    pub roles: Vec<RoleInput>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}

/// Checks every field, naming the first bad one; returns the input normalized.
pub fn check(input: UserInput) -> Result<UserInput, Error> {
    let email = validate::email(&input.email)?;
    let cpf = validate::cpf(&input.cpf)?.digits().to_owned();
    let name = validate::name(&input.name)?;
    validate::password(&input.password)?;
    let roles = check_roles(input.roles)?;
    Ok(UserInput {
        email,
        cpf,
        name,
        password: input.password,
        roles,
    })
}

/// Checks roles (`roles[i].role`), refusing a city given twice.
pub fn check_roles(roles: Vec<RoleInput>) -> Result<Vec<RoleInput>, Error> {
    let mut seen = std::collections::HashSet::new();
    for (i, r) in roles.iter().enumerate() {
        validate::role(&format!("roles[{i}].role"), &r.role)?;
        if !seen.insert(r.city_id) {
            return Err(Error::invalid(
                format!("roles[{i}].cityId"),
                "city given twice",
            ));
        }
    }
    Ok(roles)
}

/// Stores a checked user with its roles.
pub async fn create(pool: &PgPool, input: UserInput, superadmin: bool) -> Result<Uuid, Error> {
    let hash = hash_password(input.password).await?;
    let id = Uuid::new_v4();
    let mut tx = pool.begin().await?;
    sqlx::query(
        "INSERT INTO users (id, email, cpf, name, password_hash, superadmin) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(id)
    .bind(&input.email)
    .bind(&input.cpf)
    .bind(&input.name)
    .bind(hash)
    .bind(superadmin)
    .execute(&mut *tx)
    .await
    .map_err(Error::from_constraint)?;
    write_roles(&mut tx, id, &input.roles).await?;
    tx.commit().await?;
    Ok(id)
}

/// Replaces a user's roles.
pub async fn set_roles(pool: &PgPool, id: Uuid, roles: &[RoleInput]) -> Result<(), Error> {
    let mut tx = pool.begin().await?;
    let found = sqlx::query("SELECT 1 FROM users WHERE id = $1 FOR UPDATE")
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
    if found.is_none() {
        return Err(Error::NotFound("user"));
    }
    sqlx::query("DELETE FROM roles WHERE user_id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    write_roles(&mut tx, id, roles).await?;
    tx.commit().await?;
    Ok(())
}

/// A user by id.
pub async fn get(pool: &PgPool, id: Uuid) -> Result<Option<User>, Error> {
    let row: Option<(Uuid, String, String, String, bool, DateTime<Utc>)> = sqlx::query_as(
        "SELECT id, email, cpf, name, superadmin, created_at FROM users WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(pool)
    .await?;
    let Some((id, email, cpf, name, superadmin, created_at)) = row else {
        return Ok(None);
    };
    let roles = roles(pool, id)
        .await?
        .into_iter()
        .map(|(city_id, role)| RoleInput { city_id, role })
        .collect();
    let cpf = crate::cpf::Cpf::parse(&cpf).map_or(cpf, |c| c.to_string());
    Ok(Some(User {
        id,
        email,
        cpf,
        name,
        superadmin,
        roles,
        created_at,
    }))
}

/// A page of user ids, by e-mail, and the total.
pub async fn list(pool: &PgPool, page: u32, per_page: u32) -> Result<(Vec<Uuid>, i64), Error> {
    let ids = sqlx::query_scalar("SELECT id FROM users ORDER BY email LIMIT $1 OFFSET $2")
        .bind(i64::from(per_page))
        .bind(i64::from(page - 1) * i64::from(per_page))
        .fetch_all(pool)
        .await?;
    let total = sqlx::query_scalar("SELECT count(*) FROM users")
        .fetch_one(pool)
        .await?;
    Ok((ids, total))
}

/// Deletes a user (its roles and refresh tokens go with it).
pub async fn delete(pool: &PgPool, id: Uuid) -> Result<(), Error> {
    let done = sqlx::query("DELETE FROM users WHERE id = $1")
        .bind(id)
        .execute(pool)
        .await?;
    if done.rows_affected() == 0 {
        return Err(Error::NotFound("user"));
    }
    Ok(())
}

/// A user's role per city.
pub async fn roles(pool: &PgPool, id: Uuid) -> Result<BTreeMap<Uuid, String>, Error> {
    let rows: Vec<(Uuid, String)> =
        sqlx::query_as("SELECT city_id, role FROM roles WHERE user_id = $1")
            .bind(id)
            .fetch_all(pool)
            .await?;
    Ok(rows.into_iter().collect())
}

/// The id and superadmin flag of the user with `email` and `password`; a wrong e-mail costs a
/// hash like a wrong password, so the answer time does not tell which one was wrong.
pub async fn authenticate(pool: &PgPool, email: &str, password: &str) -> Result<Uuid, Error> {
    let row: Option<(Uuid, String)> =
        sqlx::query_as("SELECT id, password_hash FROM users WHERE email = $1")
            .bind(email)
            .fetch_optional(pool)
            .await?;
    let (id, hash) = row.unwrap_or((Uuid::nil(), DUMMY_HASH.to_owned()));
    let ok = verify_password(password.to_owned(), hash).await?;
    if !ok || id.is_nil() {
        return Err(Error::Unauthorized("wrong e-mail or password"));
    }
    Ok(id)
}

/// The e-mail and superadmin flag of a user.
pub async fn identity(pool: &PgPool, id: Uuid) -> Result<(String, bool), Error> {
    sqlx::query_as("SELECT email, superadmin FROM users WHERE id = $1")
        .bind(id)
        .fetch_optional(pool)
        .await?
        .ok_or(Error::Unauthorized("user no longer exists"))
}

/// Whether any user exists (bootstrap).
pub async fn any(pool: &PgPool) -> Result<bool, Error> {
    Ok(sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM users)")
        .fetch_one(pool)
        .await?)
}

/// An Argon2id hash of a password nobody has, verified when the e-mail is unknown.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$8Zbd2MOd3Mb0Ztqi1JNWSh7g3JBzQ5B1vmNj5Ndi9Gk";

async fn write_roles(tx: &mut PgConnection, id: Uuid, roles: &[RoleInput]) -> Result<(), Error> {
    for r in roles {
        sqlx::query("INSERT INTO roles (user_id, city_id, role) VALUES ($1, $2, $3)")
            .bind(id)
            .bind(r.city_id)
            .bind(&r.role)
            .execute(&mut *tx)
            .await?;
    }
    Ok(())
}

async fn hash_password(password: String) -> Result<String, Error> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| Error::Crypto(e.to_string()))
    })
    .await
    .map_err(|e| Error::Crypto(e.to_string()))?
}

async fn verify_password(password: String, hash: String) -> Result<bool, Error> {
    tokio::task::spawn_blocking(move || {
        let parsed = PasswordHash::new(&hash).map_err(|e| Error::Crypto(e.to_string()))?;
        Ok(Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok())
    })
    .await
    .map_err(|e| Error::Crypto(e.to_string()))?
}
