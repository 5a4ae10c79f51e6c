//! The command line: parse, then run one command and turn its outcome into an exit code
//! (0 ok, 1 runtime failure, 2 bad usage or configuration).

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::PathBuf;

use crate::config::{self, CONFIG_PATH_ENV};
use crate::serve::{DEV_ENVIRONMENT, DEV_TENANT, ServeError};

const USAGE: &str = "\
usage:
  exportd serve [--config PATH]          run the daemon (API and exports)
  exportd check-config [--config PATH]   validate the configuration and print a summary
  exportd export --task ID --start T --end T [--config PATH]
                                         export one window of a task now (RFC 3339 times)
  exportd keygen [--tenant T] [--environment E] [--name N]
                                         print a new API key and its [[auth.keys]] block
  exportd --version                      print the version

Without --config, exportd reads $EXPORTD_CONFIG if set, else runs on its embedded defaults.
EXPORTD_<SECTION>_<KEY> environment variables override config values.";

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
    Version,
    Help,
}

pub fn run<I>(args: I) -> i32
where
    I: IntoIterator<Item = OsString>,
{
    match parse(args) {
        Ok(command) => execute(command),
        Err(e) => {
            eprintln!("exportd: {e}\n\n{USAGE}");
            2
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
    let (mut tenant, mut environment, mut name) = (
        DEV_TENANT.to_owned(),
        DEV_ENVIRONMENT.to_owned(),
        String::new(),
    );
    let keygen = command == "keygen";
    while let Some(arg) = parser.next()? {
        match arg {
            Long("config") | Short('c') if !keygen => config = Some(PathBuf::from(parser.value()?)),
            Long("tenant") if keygen => tenant = parser.value()?.string()?,
            Long("environment") if keygen => environment = parser.value()?.string()?,
            Long("name") if keygen => name = parser.value()?.string()?,
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
        "keygen" => {
            if name.is_empty() {
                name = format!("{tenant}-{environment}");
            }
            Ok(Command::Keygen {
                tenant,
                environment,
                name,
            })
        }
        other => Err(format!("unknown command {other:?}").into()),
    }
}

fn load_config(path: Option<PathBuf>) -> Result<config::Loaded, i32> {
    let env: BTreeMap<String, String> = std::env::vars().collect();
    let path = path.or_else(|| env.get(CONFIG_PATH_ENV).map(PathBuf::from));
    config::load(path.as_deref(), &env).map_err(|e| {
        eprintln!("exportd: {e}");
        2
    })
}

fn execute(command: Command) -> i32 {
    match command {
        Command::Help => {
            println!("exportd {}\n\n{USAGE}", env!("CARGO_PKG_VERSION"));
            0
        }
        Command::Version => {
            println!("exportd {}", env!("CARGO_PKG_VERSION"));
            0
        }
        Command::Keygen {
            tenant,
            environment,
            name,
        } => {
            let key = crate::auth::generate_key();
            println!(
                "API key (store it now; exportd keeps only its hash):\n{key}\n\n\
                 Add this block to the config file:\n\n{}",
                crate::auth::config_block(&name, &tenant, &environment, &key)
            );
            0
        }
        Command::CheckConfig { config } => match load_config(config) {
            Ok(loaded) => {
                for w in &loaded.warnings {
                    eprintln!("exportd: warning: {w}");
                }
                println!("config OK: {}", loaded.config);
                0
            }
            Err(code) => code,
        },
        Command::Export {
            config,
            task,
            start,
            end,
        } => {
            let loaded = match load_config(config) {
                Ok(loaded) => loaded,
                Err(code) => return code,
            };
            match crate::oneshot::export(loaded, &task, &start, &end) {
                Ok(true) => 0,
                Ok(false) => 1,
                Err(e) => {
                    eprintln!("exportd: {e}");
                    match e {
                        ServeError::Config(_) => 2,
                        ServeError::Runtime(_) => 1,
                    }
                }
            }
        }
        Command::Serve { config } => {
            let loaded = match load_config(config) {
                Ok(loaded) => loaded,
                Err(code) => return code,
            };
            match crate::serve::serve(loaded) {
                Ok(()) => 0,
                Err(e) => {
                    log::error!("{e}");
                    eprintln!("exportd: {e}");
                    match e {
                        ServeError::Config(_) => 2,
                        ServeError::Runtime(_) => 1,
                    }
                }
            }
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
    }

    #[test]
    fn bad_usage_is_exit_code_2() {
        for bad in [
            &["frobnicate"][..],
            &["serve", "--bogus"],
            &["serve", "--config"],
            &["keygen", "--config", "x"],
            &["--nope"],
        ] {
            assert!(parse(args(bad)).is_err(), "{bad:?}");
            assert_eq!(run(args(bad)), 2, "{bad:?}");
        }
    }
}
