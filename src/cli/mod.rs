//! The command line: parse, then run one command and turn its outcome into an exit code
//! (0 ok, 1 runtime failure, 2 bad usage or configuration).

pub(crate) mod export;
pub(crate) mod serve;

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::PathBuf;

use crate::auth::{DEV_ENVIRONMENT, DEV_TENANT};
use crate::clock::ClockError;
use crate::config::{self, CONFIG_PATH_ENV, ConfigError};
use crate::secrets::SecretError;
use crate::store::StoreError;

const USAGE: &str = "\
usage:
  exportd serve [--config PATH]          run the daemon (API and exports)
  exportd check-config [--config PATH]   check the configuration as serve does, print a summary
  exportd export --task ID --start T --end T [--config PATH]
                                         export one window of a task now (RFC 3339 times),
                                         with the state of the server that config names
  exportd keygen [--tenant T] [--environment E] [--name N]
                                         print a new API key and its [[auth.keys]] block
  exportd keygen --development [--config PATH]
                                         replace the development key (when no [[auth.keys]]
                                         are configured) and print the new one
  exportd --version                      print the version

Without --config, exportd reads $EXPORTD_CONFIG if set, else runs on its embedded defaults
(state in ./data). EXPORTD_<SECTION>_<KEY> environment variables override config values.";

/// Why a command stopped, and so its exit code: 2 when the command line or the configuration
/// cannot work (fix them, then try again), 1 when something failed while running.
#[derive(Debug, thiserror::Error)]
pub(crate) enum StartError {
    /// The command line is wrong (exit 2); the usage is printed after it.
    #[error("{0}")]
    Usage(String),
    /// The configuration cannot be loaded (exit 2).
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The configuration, or what it names, cannot work (exit 2).
    #[error("{0}")]
    Refused(String),
    /// The test clock of the configuration cannot be read (exit 2).
    #[error("scheduler.test_clock: {0}")]
    Clock(#[from] ClockError),
    /// The database failed (exit 1).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The secrets key cannot be read or made (exit 1).
    #[error(transparent)]
    Secrets(#[from] SecretError),
    /// The system refused something exportd needs: a thread, a port, a directory (exit 1).
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    /// Something else failed while running (exit 1).
    #[error("{0}")]
    Runtime(String),
}

impl StartError {
    pub(crate) fn io(what: impl Into<String>, source: std::io::Error) -> StartError {
        StartError::Io {
            what: what.into(),
            source,
        }
    }

    /// The one mapping of errors to exit codes.
    pub(crate) fn exit_code(&self) -> i32 {
        match self {
            StartError::Usage(_)
            | StartError::Config(_)
            | StartError::Refused(_)
            | StartError::Clock(_) => 2,
            StartError::Store(_)
            | StartError::Secrets(_)
            | StartError::Io { .. }
            | StartError::Runtime(_) => 1,
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Command {
    Serve {
        config: Option<PathBuf>,
    },
    CheckConfig {
        config: Option<PathBuf>,
    },
    Export {
        config: Option<PathBuf>,
        task: String,
        start: String,
        end: String,
    },
    Keygen {
        tenant: String,
        environment: String,
        name: String,
    },
    /// Replaces the stored development key.
    KeygenDevelopment {
        config: Option<PathBuf>,
    },
    Version,
    Help,
}

pub(crate) fn run<I>(args: I) -> i32
where
    I: IntoIterator<Item = OsString>,
{
    let outcome = parse(args)
        .map_err(|e| StartError::Usage(e.to_string()))
        .and_then(execute);
    match outcome {
        Ok(code) => code,
        Err(e) => {
            match &e {
                StartError::Usage(_) => eprintln!("exportd: {e}\n\n{USAGE}"),
                _ => eprintln!("exportd: {e}"),
            }
            e.exit_code()
        }
    }
}

fn parse<I>(args: I) -> Result<Command, lexopt::Error>
where
    I: IntoIterator<Item = OsString>,
{
    use lexopt::prelude::*;
    let mut parser = lexopt::Parser::from_iter(args);
    let command = match parser.next()? {
        Some(Long("version") | Short('V')) => return Ok(Command::Version),
        Some(Long("help") | Short('h')) | None => return Ok(Command::Help),
        Some(Value(cmd)) => cmd.string()?,
        Some(other) => return Err(other.unexpected()),
    };
    let mut config = None;
    let (mut task, mut start, mut end) = (None, None, None);
    let export = command == "export";
    let (mut tenant, mut environment, mut name) = (None, None, None);
    let keygen = command == "keygen";
    let mut development = false;
    while let Some(arg) = parser.next()? {
        match arg {
            Long("config") | Short('c') => config = Some(PathBuf::from(parser.value()?)),
            Long("tenant") if keygen => tenant = Some(parser.value()?.string()?),
            Long("environment") if keygen => environment = Some(parser.value()?.string()?),
            Long("name") if keygen => name = Some(parser.value()?.string()?),
            Long("development") if keygen => development = true,
            Long("task") if export => task = Some(parser.value()?.string()?),
            Long("start") if export => start = Some(parser.value()?.string()?),
            Long("end") if export => end = Some(parser.value()?.string()?),
            Long("help") | Short('h') => return Ok(Command::Help),
            other => return Err(other.unexpected()),
        }
    }
    match command.as_str() {
        "serve" => Ok(Command::Serve { config }),
        "check-config" => Ok(Command::CheckConfig { config }),
        "export" => match (task, start, end) {
            (Some(task), Some(start), Some(end)) => Ok(Command::Export {
                config,
                task,
                start,
                end,
            }),
            _ => Err("export needs --task, --start and --end".into()),
        },
        "keygen" if development => {
            if tenant.is_some() || environment.is_some() || name.is_some() {
                return Err(
                    "keygen --development makes the key of tenant default, environment development: it takes no --tenant, --environment or --name".into(),
                );
            }
            Ok(Command::KeygenDevelopment { config })
        }
        "keygen" => {
            if config.is_some() {
                return Err("keygen reads no config (except with --development)".into());
            }
            let tenant = tenant.unwrap_or_else(|| DEV_TENANT.to_owned());
            let environment = environment.unwrap_or_else(|| DEV_ENVIRONMENT.to_owned());
            let name = name.unwrap_or_else(|| format!("{tenant}-{environment}"));
            Ok(Command::Keygen {
                tenant,
                environment,
                name,
            })
        }
        other => Err(format!("unknown command {other:?}").into()),
    }
}

fn load_config(path: Option<PathBuf>) -> Result<config::Loaded, StartError> {
    let env: BTreeMap<String, String> = std::env::vars().collect();
    let path = path.or_else(|| env.get(CONFIG_PATH_ENV).map(PathBuf::from));
    Ok(config::load(path.as_deref(), &env)?)
}

/// `keygen --development`: a new development key in the existing state, the old one revoked.
fn replace_development_key(config: Option<PathBuf>) -> Result<i32, StartError> {
    let config = load_config(config)?.config;
    if !config.api_keys.is_empty() {
        return Err(StartError::Refused(format!(
            "the development key is off because [[auth.keys]] are configured ({} key(s)): use one of them, or make another with `exportd keygen --tenant <tenant> --environment <environment>`",
            config.api_keys.len()
        )));
    }
    let (store, _) = crate::cli::serve::open_existing_state(&config)?;
    let key = crate::auth::replace_development_key(&store)?;
    println!(
        "New development key (tenant \"{DEV_TENANT}\", environment \"{DEV_ENVIRONMENT}\"); store it now, exportd keeps only its hash:\n{key}\n\n\
         The previous development key no longer works. A running exportd accepts the new key once restarted."
    );
    Ok(0)
}

/// Runs a command; `Ok` is the exit code of a command that ran (0, or 1 for an export that
/// failed).
fn execute(command: Command) -> Result<i32, StartError> {
    match command {
        Command::Help => {
            println!("exportd {}\n\n{USAGE}", env!("CARGO_PKG_VERSION"));
            Ok(0)
        }
        Command::Version => {
            println!("exportd {}", env!("CARGO_PKG_VERSION"));
            Ok(0)
        }
        Command::Keygen {
            tenant,
            environment,
            name,
        } => {
            let key = crate::auth::generate_key();
            println!(
                "API key (store it now; exportd keeps only its hash):\n{key}\n\n\
                 Add this block to the config file exportd reads (the file given with --config or\n\
                 $EXPORTD_CONFIG; /etc/exportd/config.toml under systemd), then restart exportd.\n\
                 Once a key is configured there, the development key is off.\n\n{}",
                crate::auth::config_block(&name, &tenant, &environment, &key)
            );
            Ok(0)
        }
        Command::KeygenDevelopment { config } => replace_development_key(config),
        Command::CheckConfig { config } => {
            let loaded = load_config(config)?;
            for w in &loaded.warnings {
                eprintln!("exportd: warning: {w}");
            }
            // Every rule serve applies before it starts, not only the file's own.
            crate::cli::serve::preflight(&loaded.config)?;
            let source = crate::sources::check_config(&loaded.config)
                .map_err(|e| StartError::Refused(format!("the source: {e}")))?;
            println!("config OK: {}", loaded.config);
            println!("{}", source.trim_end());
            Ok(0)
        }
        Command::Export {
            config,
            task,
            start,
            end,
        } => {
            let loaded = load_config(config)?;
            let completed = crate::cli::export::export(loaded, &task, &start, &end)?;
            Ok(if completed { 0 } else { 1 })
        }
        Command::Serve { config } => {
            let loaded = load_config(config)?;
            crate::cli::serve::serve(loaded).inspect_err(|e| log::error!("{e}"))?;
            Ok(0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<OsString> {
        std::iter::once("exportd")
            .chain(list.iter().copied())
            .map(OsString::from)
            .collect()
    }

    #[test]
    fn parses_commands_and_options() {
        assert_eq!(
            parse(args(&["serve"])).ok(),
            Some(Command::Serve { config: None })
        );
        assert_eq!(
            parse(args(&["serve", "--config", "/etc/exportd.toml"])).ok(),
            Some(Command::Serve {
                config: Some("/etc/exportd.toml".into())
            })
        );
        assert_eq!(
            parse(args(&["check-config", "-c", "x.toml"])).ok(),
            Some(Command::CheckConfig {
                config: Some("x.toml".into())
            })
        );
        assert_eq!(parse(args(&["--version"])).ok(), Some(Command::Version));
        assert_eq!(parse(args(&[])).ok(), Some(Command::Help));
        assert_eq!(
            parse(args(&[
                "keygen",
                "--tenant",
                "acme",
                "--environment",
                "prod"
            ]))
            .ok(),
            Some(Command::Keygen {
                tenant: "acme".into(),
                environment: "prod".into(),
                name: "acme-prod".into()
            })
        );
        assert_eq!(
            parse(args(&["keygen", "--config", "x.toml", "--development"])).ok(),
            Some(Command::KeygenDevelopment {
                config: Some("x.toml".into())
            })
        );
    }

    #[test]
    fn bad_usage_is_exit_code_2() {
        for bad in [
            &["frobnicate"][..],
            &["serve", "--bogus"],
            &["serve", "--config"],
            &["keygen", "--config", "x"],
            &["keygen", "--development", "--tenant", "t"],
            &["export", "--development"],
            &["--nope"],
        ] {
            assert!(parse(args(bad)).is_err(), "{bad:?}");
            assert_eq!(run(args(bad)), 2, "{bad:?}");
        }
    }
}
