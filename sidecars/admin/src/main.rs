//! `vigia-admin`: the Admin sidecar. Configuration from the environment (docs/admin.md), JSON
//! logs on stderr.

use vigia_admin::config::Config;
use vigia_admin::users::UserInput;
use vigia_admin::{App, Error, KEYS_VAR};
use vigia_events::Keyring;

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
        tracing::error!(error = %e, "vigia-admin stopped");
        std::process::exit(1);
    }
}

async fn run() -> Result<(), Error> {
    let config = Config::from_env()?;
    let address = config.address;
    let app = App::start(config, keyring()?).await?;
    if let Some(input) = bootstrap_user()
        && app.bootstrap(input).await?
    {
        tracing::info!("bootstrap superadmin created");
    }
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .map_err(|e| Error::Config {
            var: "ADMIN_ADDRESS",
            message: e.to_string(),
        })?;
    tracing::info!(%address, "vigia-admin listening");
    let served = axum::serve(listener, app.router())
        .with_graceful_shutdown(shutdown())
        .await;
    app.stop().await;
    served.map_err(Error::Serve)
}

/// The keyring of [`KEYS_VAR`], required: signing keys are never stored unsealed.
fn keyring() -> Result<Keyring, Error> {
    let list = std::env::var(KEYS_VAR).unwrap_or_default();
    if list.trim().is_empty() {
        return Err(Error::Config {
            var: KEYS_VAR,
            message: "required (id:base64 of 32 bytes); signing keys are sealed with it".into(),
        });
    }
    Keyring::parse(&list).map_err(|e| Error::Config {
        var: KEYS_VAR,
        message: e.to_string(),
    })
}

/// The first superadmin from `ADMIN_BOOTSTRAP_EMAIL`, `_CPF`, `_PASSWORD` (and `_NAME`).
fn bootstrap_user() -> Option<UserInput> {
    let var = |n: &str| std::env::var(format!("ADMIN_BOOTSTRAP_{n}")).ok();
    Some(UserInput {
        email: var("EMAIL")?,
        cpf: var("CPF")?,
        password: var("PASSWORD")?,
        name: var("NAME").unwrap_or_else(|| "Administrador".into()),
        roles: Vec::new(),
    })
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
    tracing::info!("vigia-admin shutting down");
}
