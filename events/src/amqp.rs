//! Connection helpers shared by publisher, consumer and CLI.

use std::time::Duration;

use lapin::options::ConfirmSelectOptions;
use lapin::types::ShortString;
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};

use crate::{CONTENT_TYPE, Error};

/// An open connection with one channel in confirm mode.
pub(crate) struct Link {
    pub(crate) conn: Connection,
    pub(crate) channel: Channel,
}

impl Link {
    /// Connects, opens a channel and enables publisher confirms.
    pub(crate) async fn open(url: &str, name: &str) -> Result<Link, Error> {
        let props = ConnectionProperties::default().with_connection_name(name.into());
        let conn = tokio::time::timeout(Duration::from_secs(10), Connection::connect(url, props))
            .await
            .map_err(|_| Error::amqp(format!("connect {}", redact(url)), "timed out"))?
            .map_err(|e| Error::amqp(format!("connect {}", redact(url)), e))?;
        let channel = conn
            .create_channel()
            .await
            .map_err(|e| Error::amqp("channel.open", e))?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .map_err(|e| Error::amqp("confirm.select", e))?;
        Ok(Link { conn, channel })
    }

    /// Closes politely; errors are irrelevant at this point, and a dead link (whose close-ok
    /// never comes) is abandoned after a second.
    pub(crate) async fn close(self) {
        let close = self.conn.close(200, "bye".into());
        let _ = tokio::time::timeout(Duration::from_secs(1), close).await;
    }
}

/// Runs a connection set-up step with a bound, so a half-dead link cannot stall a reconnect loop.
pub(crate) async fn bounded<T>(
    op: &str,
    fut: impl std::future::Future<Output = Result<T, Error>>,
) -> Result<T, Error> {
    tokio::time::timeout(Duration::from_secs(15), fut)
        .await
        .unwrap_or_else(|_| Err(Error::amqp(op, "timed out")))
}

/// Doubling delay between reconnection attempts, reset after a success.
#[derive(Debug, Clone)]
pub(crate) struct Backoff {
    min: Duration,
    max: Duration,
    next: Duration,
}

impl Backoff {
    pub(crate) fn new((min, max): (Duration, Duration)) -> Backoff {
        Backoff {
            min,
            max,
            next: min,
        }
    }

    /// The delay to wait now; the following one doubles up to the maximum.
    pub(crate) fn next_delay(&mut self) -> Duration {
        let d = self.next;
        self.next = (self.next * 2).min(self.max);
        d
    }

    /// Back to the minimum after a successful connection.
    pub(crate) fn reset(&mut self) {
        self.next = self.min;
    }
}

/// The AMQP properties of a published event whose structured-mode JSON is `body`:
/// `content-type`, persistent delivery, and, taken from the envelope, `message_id` = `id`,
/// `correlation_id` = `correlationid` (else `id`, as consumers read it) and `timestamp` = `time`
/// in Unix seconds. An attribute that does not fit an AMQP short string (255 bytes) or a time
/// before 1970 leaves its property unset; the body stays the authority.
pub(crate) fn message_properties(body: &[u8]) -> BasicProperties {
    #[derive(serde::Deserialize)]
    struct Attributes {
        id: Option<String>,
        correlationid: Option<String>,
        time: Option<String>,
    }
    let props = BasicProperties::default()
        .with_content_type(CONTENT_TYPE.into())
        .with_delivery_mode(2);
    let Ok(attrs) = serde_json::from_slice::<Attributes>(body) else {
        return props;
    };
    let short = |s: Option<String>| s.and_then(|s| ShortString::try_new(s).ok());
    let correlation = attrs.correlationid.or_else(|| attrs.id.clone());
    let mut props = props;
    if let Some(id) = short(attrs.id) {
        props = props.with_message_id(id);
    }
    if let Some(c) = short(correlation) {
        props = props.with_correlation_id(c);
    }
    let secs = attrs
        .time
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(&t).ok())
        .and_then(|t| u64::try_from(t.timestamp()).ok());
    match secs {
        Some(secs) => props.with_timestamp(secs),
        None => props,
    }
}

/// The URL with its password hidden, for logs and errors.
pub(crate) fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let Some((auth, host)) = rest.split_once('@') else {
        return url.to_owned();
    };
    let user = auth.split(':').next().unwrap_or("");
    format!("{scheme}://{user}:***@{host}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_max_and_resets() {
        let mut b = Backoff::new((Duration::from_millis(100), Duration::from_millis(500)));
        let got: Vec<u128> = (0..5).map(|_| b.next_delay().as_millis()).collect();
        assert_eq!(got, [100, 200, 400, 500, 500]);
        b.reset();
        assert_eq!(b.next_delay().as_millis(), 100);
    }

    #[test]
    fn message_properties_come_from_the_envelope() {
        let e = &crate::examples()[0];
        let p = message_properties(&e.to_bytes());
        let short = |s: &Option<ShortString>| s.as_ref().map(|s| s.as_str().to_owned());
        assert_eq!(short(p.message_id()).as_deref(), Some(e.id.as_str()));
        assert_eq!(
            short(p.correlation_id()).as_deref(),
            Some(e.correlation_id.as_str())
        );
        assert_eq!(*p.timestamp(), Some(e.time.timestamp() as u64));
        assert_eq!(short(p.content_type()).as_deref(), Some(CONTENT_TYPE));
        assert_eq!(*p.delivery_mode(), Some(2));

        let mut v = e.to_json();
        v["id"] = "x".repeat(300).into();
        v.as_object_mut().unwrap().remove("correlationid");
        v["time"] = "1969-12-31T23:59:59Z".into();
        let p = message_properties(v.to_string().as_bytes());
        assert_eq!(*p.message_id(), None, "longer than a short string");
        assert_eq!(*p.correlation_id(), None, "falls back to the too-long id");
        assert_eq!(*p.timestamp(), None, "before 1970");
        assert_eq!(*message_properties(b"not json").delivery_mode(), Some(2));
    }

    #[test]
    fn redact_cases() {
        let cases = [
            (
                "amqp://guest:guest@host:5672/%2f",
                "amqp://guest:***@host:5672/%2f",
            ),
            ("amqp://host", "amqp://host"),
            ("nonsense", "nonsense"),
        ];
        for (input, want) in cases {
            assert_eq!(redact(input), want);
        }
    }
}
