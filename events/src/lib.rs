//! The platform's event contract over RabbitMQ.
//!
//! - [`Event`]: a CloudEvents 1.0 structured-JSON envelope around a typed, versioned
//!   [`EventData`]; [`Event::from_slice`] checks everything a consumer relies on.
//! - [`topology`]: the durable topic exchange [`EXCHANGE`], per-service quorum queues, retry
//!   queues and DLQs.
//! - [`Publisher`]: never blocks the caller; durable outbox; confirms; replay on reconnect.
//! - [`Consumer`]: manual acks, retry ladder, DLQ, dedupe by event source + id, correlation ids.
//! - [`Keyring`] and [`SealedSecret`]: camera passwords cross the bus sealed with AES-256-GCM;
//!   [`Camera::pull_url`] opens them for pulling.
//! - [`registry`]: the cameras and city storage plans the bus announced, in event order.
//! - [`cli`]: the `vigia events ...` operator commands.
//! - `test_support` (feature `test-support`, off by default): a broker proxy for outage tests.
//!
//! The contract is documented, with an example per type, in `docs/events.md`; a JSON Schema
//! per type lives in `events/schemas/`.

#![warn(missing_docs)]

mod amqp;
pub mod cli;
mod config;
mod consumer;
pub mod dedupe;
mod envelope;
mod error;
mod examples;
mod ids;
mod outbox;
mod payload;
mod publisher;
pub mod registry;
mod secret;
#[cfg(feature = "test-support")]
/// Test support for the services that publish and consume through this crate: a cuttable
/// proxy in front of the local broker, for outage tests. Feature `test-support`, off by
/// default; enable it in `[dev-dependencies]` only.
pub mod test_support;
pub mod topology;

pub use config::{ConsumerConfig, EXCHANGE, PublisherConfig, URL_ENV, resolve_url};
pub use consumer::{
    ATTEMPTS_HEADER, Consumer, ConsumerStats, Handler, HandlerFuture, KIND_HEADER, QUEUE_HEADER,
    REASON_HEADER, ROUTING_KEY_HEADER, ROUTING_KEY_MISMATCH,
};
pub use envelope::{
    CONTENT_TYPE, Event, ParseError, current_correlation, fuzz_envelope, with_correlation,
};
pub use error::Error;
pub use examples::{example_keyring, examples};
pub use ids::{Cnpj, IdError, Plate};
pub use payload::*;
pub use publisher::{Publisher, PublisherStats};
pub use secret::{
    ALG, KEY_ENV, KEY_ID_ENV, KEYS_ENV, Keyring, Login, PullUrl, SealedSecret,
    camera_password_context,
};
