//! The platform's event contract over RabbitMQ.

#![warn(missing_docs)]
