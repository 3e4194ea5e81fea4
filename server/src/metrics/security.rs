//! Authentication decisions: `auth_decisions_total{protocol,action,result}`, counted by
//! [`crate::auth`] for every attempt on every listener; and the refusals of the connection and
//! rate limits, `limit_refusals_total{listener,limit}`, counted by [`crate::limits`]. Process-wide like the HTTP figures, so
//! the listeners need nothing passed to them; labels are bounded (fixed protocols, actions and
//! results).

use std::fmt;
use std::sync::LazyLock;

use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;

use crate::auth::Protocol;
use crate::config::AuthAction;

/// How an attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum AuthResult {
    /// Let through.
    Allowed,
    /// No credentials were given: the client was asked for some (401 with a challenge).
    Challenged,
    /// The credentials given were wrong or did not allow the action.
    Denied,
}

impl AuthResult {
    fn name(self) -> &'static str {
        match self {
            AuthResult::Allowed => "allowed",
            AuthResult::Challenged => "challenged",
            AuthResult::Denied => "denied",
        }
    }
}

/// The labels of `auth_decisions_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DecisionLabels {
    protocol: &'static str,
    action: &'static str,
    result: &'static str,
}

static DECISIONS: LazyLock<Family<DecisionLabels, Counter>> = LazyLock::new(Family::default);

/// Counts one decision.
pub(crate) fn count_auth(protocol: Protocol, action: AuthAction, result: AuthResult) {
    DECISIONS
        .get_or_create(&DecisionLabels {
            protocol: protocol.label(),
            action: action.name(),
            result: result.name(),
        })
        .inc();
}

/// Writes the families (described even before the first decision).
pub(crate) fn encode(encoder: &mut DescriptorEncoder<'_>) -> fmt::Result {
    let decisions: &dyn EncodeMetric = &*DECISIONS;
    decisions.encode(encoder.encode_descriptor(
        "auth_decisions",
        "Authentication decisions, by protocol, action and result (allowed, challenged, denied)",
        None,
        decisions.metric_type(),
    )?)?;
    let limits: &dyn EncodeMetric = &*LIMITS;
    limits.encode(encoder.encode_descriptor(
        "limit_refusals",
        "Connections and requests refused or closed by a limit, by listener and limit \
         (maxConnectionsPerIP, readTimeout, tlsHandshake, httpRateLimit, apiUserRateLimit)",
        None,
        limits.metric_type(),
    )?)
}

/// The labels of `limit_refusals_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LimitLabels {
    listener: String,
    limit: &'static str,
}

static LIMITS: LazyLock<Family<LimitLabels, Counter>> = LazyLock::new(Family::default);

/// The counter of connections or requests that `limit` (`maxConnectionsPerIP`, `readTimeout`,
/// `tlsHandshake`, `httpRateLimit`, `apiUserRateLimit`) refused or closed on `listener` (a log
/// prefix such as `HLS`, counted in lower case); held by the limit so counting is one atomic add.
pub(crate) fn limit_counter(listener: &str, limit: &'static str) -> Counter {
    LIMITS
        .get_or_create(&LimitLabels {
            listener: listener.to_ascii_lowercase(),
            limit,
        })
        .clone()
}
