//! One LL-HLS reader (not yet written).

use std::sync::Arc;

use tokio::time::Instant;

use crate::Error;
use crate::stats::Stats;

/// Reads the LL-HLS stream at `url` until `until`.
pub async fn run(
    _host: &str,
    _port: u16,
    url: &str,
    who: String,
    _stats: Arc<Stats>,
    _until: Instant,
) -> Result<(), Error> {
    Err(Error::protocol(
        who,
        format!("{url}: LL-HLS reader not written yet"),
    ))
}
