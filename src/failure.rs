//! What can go wrong in a run, said two ways: a sentence for the run's `error_summary` that
//! tells the user what to fix, and the full detail for the log; and what kind of failure it is,
//! which decides what happens to the window next.

use std::fmt;

/// What kind of failure ended a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Worth trying again soon (network, timeouts, 5xx, throttling).
    Retryable,
    /// The configuration or credentials must change first; still retried, but after the
    /// longest backoff.
    Terminal,
    /// Stopped from outside (shutdown, or a crash found at the next start), not failed: the
    /// window runs again at once and the stop never counts toward auto-pause.
    Interrupted,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportError {
    pub kind: Failure,
    /// For the client: what failed and what to do about it. Never raw XML, SQL or secrets.
    pub summary: String,
    /// For the log only.
    pub detail: String,
}

impl ExportError {
    /// Checks (in a test) that this is a failure of `kind` whose summary says `words`.
    #[cfg(test)]
    #[track_caller]
    pub(crate) fn assert_says(&self, kind: Failure, words: &str) {
        assert_eq!(self.kind, kind, "{self:?}");
        assert!(self.summary.contains(words), "{}", self.summary);
    }

    pub(crate) fn retryable(summary: impl Into<String>, detail: impl Into<String>) -> ExportError {
        ExportError {
            kind: Failure::Retryable,
            summary: summary.into(),
            detail: detail.into(),
        }
    }

    pub(crate) fn terminal(summary: impl Into<String>, detail: impl Into<String>) -> ExportError {
        ExportError {
            kind: Failure::Terminal,
            summary: summary.into(),
            detail: detail.into(),
        }
    }

    /// The run was stopped from outside: `reason` is what stopped it ("shutdown").
    pub(crate) fn interrupted(reason: &str) -> ExportError {
        ExportError {
            kind: Failure::Interrupted,
            summary: format!("interrupted by {reason}"),
            detail: format!("interrupted by {reason}"),
        }
    }

    /// An export thread that could not be started.
    pub(crate) fn no_thread(e: std::io::Error) -> ExportError {
        ExportError::retryable(
            "exportd could not start a thread; the server log has details",
            format!("spawning an export thread: {e}"),
        )
    }

    /// An export thread that panicked while `what`.
    pub(crate) fn panicked(what: &str) -> ExportError {
        ExportError::retryable(
            format!("{what} failed; the server log has details"),
            format!("the thread {what} panicked"),
        )
    }

    /// Whether a retry may work without anyone changing anything.
    pub(crate) fn is_retryable(&self) -> bool {
        self.kind != Failure::Terminal
    }
}

impl fmt::Display for ExportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.summary, self.detail)
    }
}

impl std::error::Error for ExportError {}

impl From<crate::store::StoreError> for ExportError {
    fn from(e: crate::store::StoreError) -> Self {
        ExportError::retryable(
            "exportd could not read its database; the server log has details",
            e.to_string(),
        )
    }
}

impl From<rusqlite::Error> for ExportError {
    fn from(e: rusqlite::Error) -> Self {
        crate::store::StoreError::from(e).into()
    }
}
