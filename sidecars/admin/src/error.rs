//! The one error type of the service and its HTTP form.
//!
//! Every refusal names the field it is about when there is one: `{"error": "...", "field":
//! "cpf"}`. Database errors are logged with their cause and answered as a plain 500; the unique
//! violations a client can cause (a duplicate e-mail or CPF) are mapped to 409 here, once.

use std::time::Duration;

use axum::Json;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// What went wrong, with the HTTP status it maps to.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A request field is invalid (422).
    #[error("{field}: {message}")]
    Invalid {
        /// JSON name of the field (`cpf`, `email`, `password`).
        field: String,
        /// Why, for a person.
        message: String,
    },
    /// No valid credentials or token (401).
    #[error("unauthorized: {0}")]
    Unauthorized(&'static str),
    /// Valid credentials that do not allow this (403).
    #[error("forbidden: {0}")]
    Forbidden(&'static str),
    /// The thing addressed by the URL does not exist (404).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The change clashes with stored data (409), e.g. a duplicate e-mail.
    #[error("{message}")]
    Conflict {
        /// The field whose value clashes.
        field: &'static str,
        /// Why, for a person.
        message: String,
    },
    /// The user sent more than the rate limit allows (429, `Retry-After`).
    #[error("rate limit exceeded")]
    TooManyRequests {
        /// When the next request will be accepted.
        retry_after: Duration,
    },
    /// The database failed.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// The broker failed (the `camera.*` consumer).
    #[error("bus: {0}")]
    Bus(String),
    /// Signing, sealing or hashing failed.
    #[error("crypto: {0}")]
    Crypto(String),
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
            Error::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Error::Forbidden(_) => StatusCode::FORBIDDEN,
            Error::NotFound(_) => StatusCode::NOT_FOUND,
            Error::Conflict { .. } => StatusCode::CONFLICT,
            Error::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Error::Database(_)
            | Error::Bus(_)
            | Error::Crypto(_)
            | Error::Serve(_)
            | Error::Config { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Maps a unique violation to the field a client can fix; any other error stays a 500.
    pub fn from_constraint(e: sqlx::Error) -> Error {
        let Some(db) = e.as_database_error() else {
            return Error::Database(e);
        };
        let field = match db.constraint().unwrap_or_default() {
            "users_email_key" => "email",
            "users_cpf_key" => "cpf",
            _ => return Error::Database(e),
        };
        if !db.is_unique_violation() {
            return Error::Database(e);
        }
        Error::Conflict {
            field,
            message: format!("a user with this {field} exists"),
        }
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let status = self.status();
        let body = match &self {
            Error::Invalid { field, message } => json!({"error": message, "field": field}),
            Error::Conflict { field, message } => json!({"error": message, "field": field}),
            Error::Unauthorized(_)
            | Error::Forbidden(_)
            | Error::NotFound(_)
            | Error::TooManyRequests { .. } => json!({"error": self.to_string()}),
            _ => {
                tracing::error!(error = %self, "request failed");
                json!({"error": "internal error"})
            }
        };
        let mut resp = (status, Json(body)).into_response();
        if let Error::TooManyRequests { retry_after } = self {
            let secs = retry_after.as_secs_f64().ceil().max(1.0) as u64;
            resp.headers_mut().insert(header::RETRY_AFTER, secs.into());
        }
        resp
    }
}
