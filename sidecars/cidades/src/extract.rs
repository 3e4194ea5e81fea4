//! Request extractors whose refusals name the field: a JSON body and list query parameters.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use crate::Error;

/// Largest `perPage`.
pub const MAX_PER_PAGE: u32 = 500;
/// `perPage` when not given.
pub const DEFAULT_PER_PAGE: u32 = 50;

/// A JSON body; a type error names the field (`retentionDays`), a missing field too.
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
        let inner = e.into_inner();
        let message = inner.to_string();
        let field = match path.as_str() {
            "." | "?" => backticked(&message).unwrap_or("body").to_owned(),
            _ => path,
        };
        Error::invalid(field, message)
    })
}

/// Pagination and filters of a list (`?page=&perPage=&cityId=&status=&name=&uf=`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ListParams {
    /// 1-based page (default 1).
    pub page: u32,
    /// Items per page, 1..=[`MAX_PER_PAGE`] (default [`DEFAULT_PER_PAGE`]).
    pub per_page: u32,
    /// Only this city's items.
    pub city_id: Option<Uuid>,
    /// Only cameras with this status.
    pub status: Option<String>,
    /// Only items whose name contains this, case-insensitively.
    pub name: Option<String>,
    /// Only cities of this UF.
    pub uf: Option<String>,
    /// Only these cities' items: the caller's scope ([`crate::auth::Caller::scope`]), never a
    /// query parameter; `None` for every city.
    pub scope: Option<Vec<Uuid>>,
}

impl ListParams {
    /// Rows to skip.
    pub fn offset(&self) -> i64 {
        i64::from(self.page - 1) * i64::from(self.per_page)
    }

    /// Parses a query string; unknown parameters are refused, naming them.
    pub fn parse(query: &str) -> Result<ListParams, Error> {
        let mut p = ListParams {
            page: 1,
            per_page: DEFAULT_PER_PAGE,
            ..ListParams::default()
        };
        for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
            p.set(&key, value.into_owned())?;
        }
        Ok(p)
    }

    /// A canonical form of the parameters, for cache keys.
    pub fn cache_key(&self) -> String {
        let scope = self.scope.as_ref().map(|cities| {
            let ids: Vec<String> = cities.iter().map(|c| c.simple().to_string()).collect();
            ids.join(",")
        });
        format!(
            "p={}&n={}&c={:?}&s={:?}&q={:?}&u={:?}&in={:?}",
            self.page, self.per_page, self.city_id, self.status, self.name, self.uf, scope
        )
    }

    fn set(&mut self, key: &str, value: String) -> Result<(), Error> {
        match key {
            "page" => self.page = number("page", &value, 1, u32::MAX / 1024)?,
            "perPage" => self.per_page = number("perPage", &value, 1, MAX_PER_PAGE)?,
            "cityId" => {
                let id = value
                    .parse()
                    .map_err(|_| Error::invalid("cityId", "not a UUID"))?;
                self.city_id = Some(id);
            }
            "status" => self.status = Some(status(value)?),
            "name" => self.name = Some(crate::validate::text("name", &value, false)?),
            "uf" => self.uf = Some(crate::validate::uf(&value)?),
            other => return Err(Error::invalid(other.to_owned(), "unknown parameter")),
        }
        Ok(())
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ListParams {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Error> {
        ListParams::parse(parts.uri.query().unwrap_or(""))
    }
}

/// The camera statuses a list can filter on.
pub const STATUSES: [&str; 4] = ["unknown", "online", "degraded", "offline"];

fn status(value: String) -> Result<String, Error> {
    if !STATUSES.contains(&value.as_str()) {
        return Err(Error::invalid(
            "status",
            "must be unknown, online, degraded or offline",
        ));
    }
    Ok(value)
}

fn number(field: &'static str, value: &str, min: u32, max: u32) -> Result<u32, Error> {
    match value.parse::<u32>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(Error::invalid(field, format!("must be {min} to {max}"))),
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
    use crate::model::PlanInput;

    fn field<T>(r: Result<T, Error>) -> String {
        match r {
            Err(Error::Invalid { field, .. }) => field,
            _ => "ok".into(),
        }
    }

    #[test]
    fn body_errors_name_the_field() {
        let cases = [
            (
                r#"{"name":"a","retentionDays":"x","quotaGb":1}"#,
                "retentionDays",
            ),
            (r#"{"name":"a","quotaGb":1}"#, "retentionDays"),
            (r#"{"name":"a","retentionDays":1,"quotaGb":1,"x":1}"#, "x"),
            (r#"{"name":"a","#, "body"),
            (r#"{"name":"a","retentionDays":1,"quotaGb":1}"#, "ok"),
        ];
        for (body, want) in cases {
            assert_eq!(
                field(parse_body::<PlanInput>(body.as_bytes())),
                want,
                "{body}"
            );
        }
    }

    #[test]
    fn list_params_cases() {
        let p = ListParams::parse("page=3&perPage=10&status=online&name=Pra%C3%A7a").unwrap();
        assert_eq!((p.page, p.per_page, p.offset()), (3, 10, 20));
        assert_eq!(p.name.as_deref(), Some("Praça"));
        let d = ListParams::parse("").unwrap();
        assert_eq!((d.page, d.per_page), (1, DEFAULT_PER_PAGE));
        let bad = [
            ("page=0", "page"),
            ("perPage=501", "perPage"),
            ("perPage=x", "perPage"),
            ("cityId=1", "cityId"),
            ("status=up", "status"),
            ("uf=ZZ", "uf"),
            ("sort=name", "sort"),
        ];
        for (q, want) in bad {
            assert_eq!(field(ListParams::parse(q)), want, "{q}");
        }
    }
}
