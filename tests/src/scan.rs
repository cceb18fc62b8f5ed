//! Looking for forbidden bytes: canary values, forbidden column names and
//! person references, in envelopes and in every file under a folder.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use municipality_agent::synthetic::FORBIDDEN_COLUMNS;

use crate::error::HarnessError;

/// Values that must never leave a municipality, read back from an export:
/// every non-empty value of the forbidden columns and of `person_ref`.
pub fn secrets_of_export(path: &Path) -> Result<Vec<String>, HarnessError> {
    let text = std::fs::read_to_string(path).map_err(HarnessError::io(path))?;
    let mut lines = text.lines();
    let header = split_csv(lines.next().unwrap_or(""));
    let wanted: Vec<usize> = header
        .iter()
        .enumerate()
        .filter(|(_, h)| h.as_str() == "person_ref" || FORBIDDEN_COLUMNS.contains(&h.as_str()))
        .map(|(i, _)| i)
        .collect();
    let mut out = Vec::new();
    for line in lines {
        let fields = split_csv(line);
        for &i in &wanted {
            if let Some(v) = fields.get(i).filter(|v| !v.is_empty()) {
                out.push(v.clone());
            }
        }
    }
    Ok(out)
}

/// Splits one CSV record (`,`-delimited, `"`-quoted, no embedded newlines).
fn split_csv(line: &str) -> Vec<String> {
    let mut fields = vec![String::new()];
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                chars.next();
                if let Some(f) = fields.last_mut() {
                    f.push('"');
                }
            }
            ('"', _) => quoted = !quoted,
            (',', false) => fields.push(String::new()),
            (c, _) => {
                if let Some(f) = fields.last_mut() {
                    f.push(c);
                }
            }
        }
    }
    fields
}

/// A set of byte strings to look for, indexed by their first bytes so a
/// haystack is scanned once whatever the number of needles.
#[derive(Debug, Clone, Default)]
pub struct Needles {
    by_prefix: HashMap<[u8; PREFIX], Vec<Vec<u8>>>,
    short: Vec<Vec<u8>>,
}

const PREFIX: usize = 4;

impl Needles {
    /// Needles from strings (empty ones are ignored).
    pub fn new<S: AsRef<str>>(needles: impl IntoIterator<Item = S>) -> Self {
        let mut n = Self::default();
        for s in needles {
            n.add(s.as_ref().as_bytes());
        }
        n
    }

    /// Adds one needle.
    pub fn add(&mut self, needle: &[u8]) {
        if needle.is_empty() {
            return;
        }
        if needle.len() < PREFIX {
            self.short.push(needle.to_vec());
            return;
        }
        let mut p = [0u8; PREFIX];
        p.copy_from_slice(&needle[..PREFIX]);
        let v = self.by_prefix.entry(p).or_default();
        if !v.iter().any(|x| x == needle) {
            v.push(needle.to_vec());
        }
    }

    /// How many needles there are.
    pub fn len(&self) -> usize {
        self.short.len() + self.by_prefix.values().map(Vec::len).sum::<usize>()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every needle found in `haystack`, with the offset of its first hit.
    pub fn find_in(&self, haystack: &[u8]) -> Vec<(String, usize)> {
        let mut found: HashMap<&[u8], usize> = HashMap::new();
        for s in &self.short {
            if let Some(at) = haystack.windows(s.len()).position(|w| w == s.as_slice()) {
                found.entry(s).or_insert(at);
            }
        }
        if haystack.len() >= PREFIX {
            for at in 0..=haystack.len() - PREFIX {
                let mut p = [0u8; PREFIX];
                p.copy_from_slice(&haystack[at..at + PREFIX]);
                if let Some(cands) = self.by_prefix.get(&p) {
                    for c in cands {
                        if haystack[at..].starts_with(c) {
                            found.entry(c).or_insert(at);
                        }
                    }
                }
            }
        }
        let mut out: Vec<(String, usize)> = found
            .into_iter()
            .map(|(k, at)| (String::from_utf8_lossy(k).into_owned(), at))
            .collect();
        out.sort();
        out
    }
}

/// Every regular file under `dir`, recursively.
pub fn files_under(dir: &Path) -> Result<Vec<PathBuf>, HarnessError> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).map_err(HarnessError::io(&d))? {
            let entry = entry.map_err(HarnessError::io(&d))?;
            let kind = entry.file_type().map_err(HarnessError::io(entry.path()))?;
            if kind.is_dir() {
                stack.push(entry.path());
            } else if kind.is_file() {
                out.push(entry.path());
            }
        }
    }
    out.sort();
    Ok(out)
}

/// A needle found in a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    /// The file.
    pub file: PathBuf,
    /// The needle.
    pub needle: String,
    /// Offset of its first occurrence.
    pub offset: usize,
}

/// What [`scan_dir`] looked at and found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DirScan {
    /// Every needle found, per file.
    pub hits: Vec<Hit>,
    /// Files scanned.
    pub files: usize,
    /// Bytes scanned.
    pub bytes: u64,
}

/// Scans every byte of every file under `dir` for the needles.
pub fn scan_dir(dir: &Path, needles: &Needles) -> Result<DirScan, HarnessError> {
    let files = files_under(dir)?;
    let mut out = DirScan {
        files: files.len(),
        ..DirScan::default()
    };
    for f in &files {
        let data = std::fs::read(f).map_err(HarnessError::io(f))?;
        out.bytes += data.len() as u64;
        for (needle, offset) in needles.find_in(&data) {
            out.hits.push(Hit {
                file: f.clone(),
                needle,
                offset,
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_long_and_short_needles_once() {
        let n = Needles::new(["CANARY-NAME-7", "ab", "99999000012", "CANARY-NAME-77"]);
        assert_eq!(n.len(), 4);
        let hay = b"xxCANARY-NAME-7yy ab CANARY-NAME-7 99999000013";
        let hits = n.find_in(hay);
        assert_eq!(
            hits,
            vec![("CANARY-NAME-7".to_string(), 2), ("ab".to_string(), 18)]
        );
        assert!(n.find_in(b"").is_empty());
    }

    #[test]
    fn csv_fields_with_quotes() {
        assert_eq!(
            split_csv(r#"a,"b, c","d ""e""",,f"#),
            vec!["a", "b, c", "d \"e\"", "", "f"]
        );
    }
}
