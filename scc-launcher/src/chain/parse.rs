//! Reading a chain file: TOML or JSON into the [schema](super::schema), with errors that name
//! the field path, the line and, for a misspelt field or value, the intended one.

use std::fmt;
use std::path::{Path, PathBuf};

use super::schema::Chain;

/// One problem in a chain file: where (a field path such as `nf[1].routes[0]`) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// Field path, e.g. `schedule.nice` or `nf[0].name`.
    pub path: String,
    /// What is wrong and, where possible, how to fix it.
    pub reason: String,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.reason)
    }
}

/// Errors of reading a chain file.
#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// Not valid TOML/JSON, an unknown field, a wrong type.
    #[error("{}", fmt_parse(.line, .error))]
    Parse {
        /// 1-based line, when known.
        line: Option<usize>,
        /// The field and the reason.
        error: FieldError,
    },
    /// Parsed, but some values are wrong (every problem listed).
    #[error("{} problem(s):\n{}", .0.len(), .0.iter().map(|e| format!("  {e}")).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<FieldError>),
}

fn fmt_parse(line: &Option<usize>, e: &FieldError) -> String {
    match line {
        Some(l) => format!("line {l}: {e}"),
        None => e.to_string(),
    }
}

impl ChainError {
    /// The field errors (one for a parse error).
    pub fn field_errors(&self) -> Vec<FieldError> {
        match self {
            ChainError::Read { path, source } => vec![FieldError {
                path: path.display().to_string(),
                reason: source.to_string(),
            }],
            ChainError::Parse { error, .. } => vec![error.clone()],
            ChainError::Invalid(v) => v.clone(),
        }
    }
}

/// Suggests the candidate closest to `word` when it is close enough.
pub fn suggest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let cands: Vec<&str> = candidates.into_iter().collect();
    // An abbreviation (`prio` for `priority`) first, the shortest if several.
    if word.len() >= 3
        && let Some(c) = cands
            .iter()
            .filter(|c| c.starts_with(word))
            .min_by_key(|c| c.len())
    {
        return Some(c);
    }
    let (d, c) = cands
        .iter()
        .map(|c| (strsim::damerau_levenshtein(word, c), *c))
        .min_by_key(|(d, _)| *d)?;
    let limit = (word.len().max(c.len()) / 3).max(1) + usize::from(word.len() > 4);
    (d <= limit || word.starts_with(c)).then_some(c)
}

/// Rewrites serde's "unknown field/variant `x`, expected ..." into a reason with a suggestion.
fn explain(msg: &str) -> String {
    let msg = msg.trim();
    for what in ["unknown field", "unknown variant"] {
        let Some(rest) = msg.strip_prefix(what) else {
            continue;
        };
        let mut parts = rest.split('`');
        let _ = parts.next();
        let Some(word) = parts.next() else { break };
        let expected_part = rest
            .find("expected")
            .map(|i| &rest[i..])
            .unwrap_or_default();
        let cands: Vec<&str> = expected_part.split('`').skip(1).step_by(2).collect();
        let list = cands
            .iter()
            .map(|c| format!("`{c}`"))
            .collect::<Vec<_>>()
            .join(", ");
        let mut out = format!("{what} `{word}`");
        if let Some(s) = suggest(word, cands.iter().copied()) {
            out.push_str(&format!(", did you mean `{s}`?"));
        }
        if cands.is_empty() {
            out.push_str(" (this table takes no fields)");
        } else {
            out.push_str(&format!(" (expected one of {list})"));
        }
        return out;
    }
    msg.to_string()
}

fn path_string(path: &serde_path_to_error::Path, msg: &str) -> String {
    let mut p = path.to_string();
    // For an unknown field serde_path_to_error's path ends at the table; add the field.
    if msg.starts_with("unknown field")
        && let Some(word) = msg.split('`').nth(1)
        && !p.ends_with(word)
    {
        p = if p == "." || p.is_empty() {
            word.to_string()
        } else {
            format!("{p}.{word}")
        };
    }
    if p == "." || p.is_empty() {
        "(top level)".to_string()
    } else {
        p
    }
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

impl Chain {
    /// Parses a chain from TOML, or JSON when `text` starts with `{`.
    pub fn parse(text: &str) -> Result<Chain, ChainError> {
        if text.trim_start().starts_with('{') {
            Self::parse_json(text)
        } else {
            Self::parse_toml(text)
        }
    }

    /// Parses TOML.
    pub fn parse_toml(text: &str) -> Result<Chain, ChainError> {
        let de = toml::Deserializer::parse(text).map_err(|e| ChainError::Parse {
            line: e.span().map(|s| line_of(text, s.start)),
            error: FieldError {
                path: "(syntax)".into(),
                reason: e.message().trim().to_string(),
            },
        })?;
        serde_path_to_error::deserialize(de).map_err(|e| {
            let line = e.inner().span().map(|s| line_of(text, s.start));
            let msg = e.inner().message().to_string();
            ChainError::Parse {
                line,
                error: FieldError {
                    path: path_string(e.path(), &msg),
                    reason: explain(&msg),
                },
            }
        })
    }

    /// Parses JSON (the same schema).
    pub fn parse_json(text: &str) -> Result<Chain, ChainError> {
        let mut de = serde_json::Deserializer::from_str(text);
        let chain: Chain = serde_path_to_error::deserialize(&mut de).map_err(|e| {
            let line = Some(e.inner().line()).filter(|l| *l > 0);
            let syntax = matches!(
                e.inner().classify(),
                serde_json::error::Category::Syntax | serde_json::error::Category::Eof
            );
            let mut msg = e.inner().to_string();
            if let Some(i) = msg.rfind(" at line ") {
                msg.truncate(i);
            }
            ChainError::Parse {
                line,
                error: FieldError {
                    path: if syntax {
                        "(syntax)".into()
                    } else {
                        path_string(e.path(), &msg)
                    },
                    reason: explain(&msg),
                },
            }
        })?;
        de.end().map_err(|e| ChainError::Parse {
            line: Some(e.line()),
            error: FieldError {
                path: "(syntax)".into(),
                reason: "trailing characters after the JSON object".into(),
            },
        })?;
        Ok(chain)
    }

    /// Reads and parses a file (JSON when it ends in `.json` or starts with `{`).
    pub fn load(path: &Path) -> Result<Chain, ChainError> {
        let text = std::fs::read_to_string(path).map_err(|source| ChainError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        if path.extension().is_some_and(|e| e == "json") {
            Self::parse_json(&text)
        } else {
            Self::parse(&text)
        }
    }
}
