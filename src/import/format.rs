//! The formats an import reads.

/// What the input is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum InputFormat {
    /// One event (JSON object) per line.
    Ndjson,
    /// A JSON array of events, or a bundle `{"timelines": [...], "events": [...]}`.
    Json,
    /// The columns of Chronik's CSV export.
    Csv,
    /// ACLED's CSV export.
    Acled,
}

impl InputFormat {
    /// The format a file name suggests: `.ndjson`/`.jsonl`, `.csv` (Chronik's columns), else JSON.
    pub fn of_path(path: &std::path::Path) -> Self {
        match path.extension().and_then(|e| e.to_str()) {
            Some("ndjson" | "jsonl") => Self::Ndjson,
            Some("csv") => Self::Csv,
            _ => Self::Json,
        }
    }
}
