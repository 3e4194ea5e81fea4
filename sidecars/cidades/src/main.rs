//! `vigia-cidades`: the Cidades sidecar. Configuration from the environment (docs/cidades.md),
//! JSON logs on stderr.

use vigia_cidades::config::Config;
use vigia_cidades::crypto::AtRest;
use vigia_cidades::events::Keys;
use vigia_cidades::{App, Error};

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .json()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    if let Err(e) = run().await {
        tracing::error!(error = %e, "vigia-cidades stopped");
        std::process::exit(1);
    }
}

async fn run() -> Result<(), Error> {
    let config = Config::from_env()?;
    let keys = Keys {
        at_rest: AtRest::from_env()?,
        bus: vigia_events::Keyring::from_env().map_err(|e| Error::Config {
            var: vigia_events::KEYS_ENV,
            message: e.to_string(),
        })?,
    };
    let app = App::start(&config, keys).await?;
    let listener = tokio::net::TcpListener::bind(config.address)
        .await
        .map_err(|e| Error::Config {
            var: "CIDADES_ADDRESS",
            message: e.to_string(),
        })?;
    tracing::info!(address = %config.address, "vigia-cidades listening");
    let served = axum::serve(listener, app.router())
        .with_graceful_shutdown(shutdown())
        .await;
    app.stop().await;
    served.map_err(Error::Serve)
}

/// Resolves on SIGINT or SIGTERM (what an orchestrator sends).
async fn shutdown() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    let term = async {
        match term.as_mut() {
            Some(t) => {
                t.recv().await;
            }
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = term => {}
    }
    tracing::info!("vigia-cidades shutting down");
}
