//! A small logger: one line per event on stderr (journald adds its own metadata), as
//! `<RFC 3339 time> <LEVEL> <message>`.

use std::io::Write;

struct StderrLogger {
    level: log::LevelFilter,
}

impl log::Log for StderrLogger {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= self.level
    }

    fn log(&self, record: &log::Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let now = jiff::Timestamp::now();
        let line = format!("{now:.3} {:<5} {}\n", record.level(), record.args());
        // Logging must never take the process down: a closed stderr just loses the line.
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    }

    fn flush(&self) {
        let _ = std::io::stderr().flush();
    }
}

/// Installs the logger once per process; later calls only change the level.
pub(crate) fn init(level: log::LevelFilter) {
    let _ = log::set_boxed_logger(Box::new(StderrLogger { level }));
    log::set_max_level(level);
}
