//! The one error type of the service and its HTTP form.
//!
//! Every refusal names the field it is about when there is one: `{"error": "...", "field":
//! "cnpj"}`. Database errors are logged with their cause and answered as a plain 500; the
//! constraint violations a client can cause (a duplicate, a dangling reference) are mapped to
//! 409 / 422 here, once, so handlers never inspect SQL errors.

use axum::Json;
use axum::http::StatusCode;
use axum::http::header::WWW_AUTHENTICATE;
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// What went wrong, with the HTTP status it maps to.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A request field is invalid (422).
    #[error("{field}: {message}")]
    Invalid {
        /// JSON name of the field (`cnpj`, `rtspUrl`, `perPage`).
        field: String,
        /// Why, for a person.
        message: String,
    },
    /// The thing addressed by the URL does not exist (404).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The change clashes with stored data (409), e.g. a duplicate camera.
    #[error("{message}")]
    Conflict {
        /// The field whose value clashes.
        field: &'static str,
        /// Why, for a person.
        message: String,
    },
    /// The request carries no valid access token (401).
    #[error("{0}")]
    Unauthorized(&'static str),
    /// The token's roles do not allow the request (403).
    #[error("{0}")]
    Forbidden(String),
    /// A service this request needs cannot be reached (503), e.g. Admin's JWKS.
    #[error("{0}")]
    Unavailable(String),
    /// The database failed.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// The broker failed (the outbox relay).
    #[error("bus: {0}")]
    Bus(String),
    /// A secret could not be sealed or opened.
    #[error("secret: {0}")]
    Secret(String),
    /// The HTTP listener failed.
    #[error("serve: {0}")]
    Serve(std::io::Error),
    /// The configuration is invalid (startup only).
    #[error("config {var}: {message}")]
    Config {
        /// The environment variable.
        var: &'static str,
        /// What is wrong with it.
        message: String,
    },
}

impl Error {
    /// A 422 naming `field`.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Error {
        Error::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }

    /// The HTTP status this error is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            Error::Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Error::NotFound(_) => StatusCode::NOT_FOUND,
            Error::Conflict { .. } => StatusCode::CONFLICT,
            Error::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Error::Forbidden(_) => StatusCode::FORBIDDEN,
            Error::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Error::Database(_)
            | Error::Bus(_)
            | Error::Serve(_)
            | Error::Secret(_)
            | Error::Config { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Maps a unique or foreign-key violation of `constraint` to the field a client can fix;
    /// any other database error stays a 500.
    pub fn from_constraint(e: sqlx::Error) -> Error {
        let Some(db) = e.as_database_error() else {
            return Error::Database(e);
        };
        let constraint = db.constraint().unwrap_or_default();
        match constraint_field(constraint) {
            Some((field, message)) if db.is_unique_violation() => Error::Conflict {
                field,
                message: message.into(),
            },
            Some((field, _)) if db.is_foreign_key_violation() => {
                Error::invalid(field, "refers to nothing that exists")
            }
            _ => Error::Database(e),
        }
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let status = self.status();
        let body = match &self {
            Error::Invalid { field, message } => json!({"error": message, "field": field}),
            Error::Conflict { field, message } => json!({"error": message, "field": field}),
            Error::NotFound(_) | Error::Forbidden(_) | Error::Unavailable(_) => {
                json!({"error": self.to_string()})
            }
            Error::Unauthorized(_) => {
                let challenge = [(WWW_AUTHENTICATE, r#"Bearer realm="cidades""#)];
                let body = Json(json!({"error": self.to_string()}));
                return (status, challenge, body).into_response();
            }
            _ => {
                tracing::error!(error = %self, "request failed");
                json!({"error": "internal error"})
            }
        };
        (status, Json(body)).into_response()
    }
}

/// The field and message for a constraint of the schema (migrations/0001_init.sql).
fn constraint_field(constraint: &str) -> Option<(&'static str, &'static str)> {
    Some(match constraint {
        "cameras_city_id_name_key" => ("name", "a camera with this name exists in the city"),
        "cameras_rtsp_url_key" => ("rtspUrl", "a camera with this RTSP URL exists"),
        "cameras_city_id_fkey" => ("cityId", "unknown city"),
        "cities_ibge_code_key" => ("ibgeCode", "a city with this IBGE code exists"),
        "cities_storage_plan_id_fkey" => ("storagePlanId", "unknown storage plan"),
        "storage_plans_name_key" => ("name", "a storage plan with this name exists"),
        _ => return None,
    })
}
