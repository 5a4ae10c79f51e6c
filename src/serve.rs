//! `exportd serve`: open the store, load the keys, start the API, wait for SIGTERM/SIGINT,
//! then stop listening, finish in-flight requests and close the database.

use std::sync::Arc;

use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use crate::api::{App, Server};
use crate::auth::{KeyRing, Principal, generate_key, hash_key};
use crate::clock::{SystemClock, to_ms};
use crate::config::{Config, Loaded};
use crate::secrets::SecretBox;
use crate::store::{self, Store, StoreError};

/// Tenant and environment of the development key made when no key is configured.
pub const DEV_TENANT: &str = "default";
pub const DEV_ENVIRONMENT: &str = "development";

/// Why `serve` stopped with an error; the variant decides the exit code.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The configuration cannot work (exit 2).
    #[error("{0}")]
    Config(String),
    /// Something failed at run time (exit 1).
    #[error("{0}")]
    Runtime(String),
}

impl From<StoreError> for ServeError {
    fn from(e: StoreError) -> Self {
        ServeError::Runtime(e.to_string())
    }
}

pub fn serve(loaded: Loaded) -> Result<(), ServeError> {
    let config = loaded.config;
    crate::logging::init(config.log_level);
    for warning in &loaded.warnings {
        log::warn!("{warning}");
    }
    if config.api_keys.is_empty() && !config.listen.ip().is_loopback() {
        return Err(ServeError::Config(format!(
            "no API keys are configured and server.listen ({}) is not a loopback address. \
             Run `exportd keygen --tenant <tenant> --environment <environment>` and add the \
             [[auth.keys]] block it prints to the config file",
            config.listen
        )));
    }
    // Registered before anything else so an early SIGTERM is handled, not fatal.
    let mut signals = Signals::new([SIGTERM, SIGINT])
        .map_err(|e| ServeError::Runtime(format!("cannot install signal handlers: {e}")))?;

    std::fs::create_dir_all(&config.data_dir).map_err(|e| {
        ServeError::Runtime(format!(
            "cannot create data directory {}: {e}",
            config.data_dir.display()
        ))
    })?;
    let store = Store::open(&config.database_path)?;
    let secrets =
        SecretBox::load(&config.secret_key).map_err(|e| ServeError::Runtime(e.to_string()))?;
    let keys = key_ring(&config, &store)?;

    let (listen, threads) = (config.listen, config.threads);
    log::info!("exportd {} starting: {config}", env!("CARGO_PKG_VERSION"));
    let app = Arc::new(App {
        config,
        store,
        keys,
        secrets,
        clock: Arc::new(SystemClock),
    });
    let server = Server::start(app.clone(), listen, threads)
        .map_err(|e| ServeError::Runtime(format!("cannot listen on {listen}: {e}")))?;
    log::info!("listening on http://{}", server.addr());
    crate::systemd::notify("READY=1");

    let signal = signals.forever().next();
    log::info!(
        "received {}; finishing in-flight requests",
        match signal {
            Some(SIGINT) => "SIGINT",
            _ => "SIGTERM",
        }
    );
    crate::systemd::notify("STOPPING=1");
    server.shutdown();
    match Arc::try_unwrap(app) {
        Ok(app) => app.store.close()?,
        Err(_) => log::warn!(
            "the database was still in use at shutdown; SQLite will recover its WAL on next start"
        ),
    }
    log::info!("stopped");
    Ok(())
}

/// The configured keys, or the development key: made (and printed once) on the first start of
/// a loopback-only exportd without keys, and reused from its stored hash afterwards.
fn key_ring(config: &Config, store: &Store) -> Result<KeyRing, ServeError> {
    if !config.api_keys.is_empty() {
        return Ok(KeyRing::new(config.api_keys.clone()));
    }
    let fresh = generate_key();
    let fresh_hash = hash_key(&fresh);
    let now = to_ms(jiff::Timestamp::now());
    let (hash, tenant, environment, made_now) = store.write(|tx| {
        if let Some((hash, tenant, env)) = store::keys::generated(tx)? {
            return Ok::<_, StoreError>((hash, tenant, env, false));
        }
        store::keys::insert_generated(tx, &fresh_hash, DEV_TENANT, DEV_ENVIRONMENT, now)?;
        Ok((
            fresh_hash,
            DEV_TENANT.to_owned(),
            DEV_ENVIRONMENT.to_owned(),
            true,
        ))
    })?;
    if made_now {
        eprintln!(
            "\nexportd: no API keys are configured, so a development key was generated. It is shown only now:\n\n    {fresh}\n\n\
             Send it in the x-api-key header (tenant \"{tenant}\", environment \"{environment}\").\n\
             Only its hash is stored. For anything beyond local development, run `exportd keygen`\n\
             and put the [[auth.keys]] block it prints in the config file.\n"
        );
    } else {
        log::info!(
            "no [[auth.keys]] configured: accepting the development key generated on first start \
             (tenant {tenant}, environment {environment})"
        );
    }
    Ok(KeyRing::new(vec![(
        hash,
        Principal {
            tenant_id: tenant,
            environment_id: environment,
            key_name: "development".to_owned(),
        },
    )]))
}
