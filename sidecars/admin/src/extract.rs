//! Request extractors: a JSON body whose refusals name the field, the caller's verified token
//! (charged to the rate limit), and `?page=&perPage=`.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use chrono::Utc;
use serde::de::DeserializeOwned;

use crate::Error;
use crate::state::State;
use crate::tokens::Claims;

/// Largest `perPage`.
pub const MAX_PER_PAGE: u32 = 500;

/// A JSON body; a type error or a missing or unknown field names the field.
#[derive(Debug)]
pub struct Body<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = Error;

    async fn from_request(req: Request, state: &S) -> Result<Self, Error> {
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|e| Error::invalid("body", e.body_text()))?;
        parse_body(&bytes).map(Body)
    }
}

/// Deserializes `bytes`, turning a serde error into an [`Error::Invalid`] naming the field.
pub fn parse_body<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Error> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let message = e.into_inner().to_string();
        let field = match path.as_str() {
            "." | "?" => backticked(&message).unwrap_or("body").to_owned(),
            _ => path,
        };
        Error::invalid(field, message)
    })
}

/// The caller: the claims of a valid `Authorization: Bearer` access token, charged one request
/// of the caller's rate limit.
#[derive(Debug, Clone)]
pub struct Caller(pub Claims);

impl Caller {
    /// Refuses unless the caller is a superadmin or an admin of every one of `cities` (none:
    /// only a superadmin).
    pub fn must_administer(
        &self,
        cities: impl IntoIterator<Item = uuid::Uuid>,
    ) -> Result<(), Error> {
        if self.0.superadmin {
            return Ok(());
        }
        let cities: Vec<_> = cities.into_iter().collect();
        let all = !cities.is_empty()
            && cities
                .iter()
                .all(|c| self.0.cities.get(c).is_some_and(|r| r == "admin"));
        if !all {
            return Err(Error::Forbidden(
                "needs the admin role in every city concerned",
            ));
        }
        Ok(())
    }

    /// The cities where the caller has the admin role.
    pub fn administered(&self) -> Vec<uuid::Uuid> {
        let admin = self.0.cities.iter().filter(|(_, r)| *r == "admin");
        admin.map(|(c, _)| *c).collect()
    }

    /// Refuses unless the caller is a superadmin.
    pub fn must_be_superadmin(&self) -> Result<(), Error> {
        if !self.0.superadmin {
            return Err(Error::Forbidden("needs a superadmin"));
        }
        Ok(())
    }
}

impl FromRequestParts<State> for Caller {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, s: &State) -> Result<Self, Error> {
        let token = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or(Error::Unauthorized("no bearer token"))?;
        let claims = s
            .verify_access(token.trim(), Utc::now().timestamp())
            .await?;
        s.charge(&claims.sub.to_string())?;
        Ok(Caller(claims))
    }
}

/// `?page=&perPage=` (defaults 1 and 50).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Page {
    /// 1-based page.
    pub page: u32,
    /// Items per page, 1..=[`MAX_PER_PAGE`].
    pub per_page: u32,
}

impl Page {
    /// Parses the page parameters of a query, ignoring the others.
    pub fn parse(query: &str) -> Result<Page, Error> {
        let mut p = Page {
            page: 1,
            per_page: 50,
        };
        for kv in query.split('&') {
            match kv.split_once('=') {
                Some(("page", v)) => p.page = number("page", v, u32::MAX / 1024)?,
                Some(("perPage", v)) => p.per_page = number("perPage", v, MAX_PER_PAGE)?,
                _ => {}
            }
        }
        Ok(p)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Page {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Error> {
        Page::parse(parts.uri.query().unwrap_or(""))
    }
}

fn number(field: &'static str, value: &str, max: u32) -> Result<u32, Error> {
    match value.parse::<u32>() {
        Ok(n) if (1..=max).contains(&n) => Ok(n),
        _ => Err(Error::invalid(field, format!("must be 1 to {max}"))),
    }
}

/// The first `` `name` `` in a serde message ("missing field `name`").
fn backticked(message: &str) -> Option<&str> {
    let start = message.find('`')? + 1;
    let len = message[start..].find('`')?;
    Some(&message[start..start + len])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::users::UserInput;

    #[test]
    fn body_errors_name_the_field() {
        let cases = [
            (
                r#"{"email":"a@b.br","cpf":1,"name":"A","password":"x"}"#,
                "cpf",
            ),
            (r#"{"email":"a@b.br","name":"A","password":"x"}"#, "cpf"),
            (
                r#"{"email":"a@b.br","cpf":"1","name":"A","password":"x","x":1}"#,
                "x",
            ),
            (r#"{"#, "body"),
        ];
        for (body, want) in cases {
            match parse_body::<UserInput>(body.as_bytes()) {
                Err(Error::Invalid { field, .. }) => assert_eq!(field, want, "{body}"),
                other => panic!("{body}: {other:?}"),
            }
        }
        assert_eq!(
            Page::parse("page=2&perPage=10").unwrap(),
            Page {
                page: 2,
                per_page: 10
            }
        );
        assert!(Page::parse("perPage=501").is_err());
    }
}
