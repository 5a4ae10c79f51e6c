//! What can go wrong in a run, said two ways: a sentence for the run's `error_summary` that
//! tells the user what to fix, and the full detail for the log.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportError {
    /// Worth trying again later (network, timeouts, 5xx, throttling); otherwise the
    /// configuration or credentials must change first.
    pub retryable: bool,
    /// For the client: what failed and what to do about it. Never raw XML, SQL or secrets.
    pub summary: String,
    /// For the log only.
    pub detail: String,
    /// Stopped from outside (shutdown), not failed: the window is run again, not counted as a
    /// failure.
    pub interrupted: bool,
}

impl ExportError {
    pub fn retryable(summary: impl Into<String>, detail: impl Into<String>) -> ExportError {
        ExportError {
            retryable: true,
            summary: summary.into(),
            detail: detail.into(),
            interrupted: false,
        }
    }

    pub fn terminal(summary: impl Into<String>, detail: impl Into<String>) -> ExportError {
        ExportError {
            retryable: false,
            summary: summary.into(),
            detail: detail.into(),
            interrupted: false,
        }
    }

    /// The run was stopped from outside (shutdown).
    pub fn interrupted(reason: &str) -> ExportError {
        ExportError::retryable(
            format!("interrupted by {reason}"),
            format!("interrupted by {reason}"),
        )
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
