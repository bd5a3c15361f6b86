//! What every CSV import shares (leads, lead history, closed loans, LOS status updates, market rates): reading
//! the file as a stream (UTF-8, with or without a byte-order mark) row by row with the line each row starts on,
//! reporting unreadable rows by line without stopping, mapping columns by header name, and the report — each
//! bad row with its line number and reason, and whether anything was committed (all or nothing by default;
//! `--skip-bad` commits the good rows).

use std::collections::HashMap;
use std::fmt;

use serde::Serialize;

/// One rejected row: the line it starts on (the header is line 1) and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct RowError {
    pub line: u64,
    /// The column at fault, when there is one.
    pub column: Option<String>,
    pub message: String,
}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.column {
            Some(c) => write!(f, "line {}: {}: {}", self.line, c, self.message),
            None => write!(f, "line {}: {}", self.line, self.message),
        }
    }
}

/// The outcome of one import.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct ImportReport {
    /// What was imported, plural ("leads", "stage changes", "activities").
    pub what: String,
    /// Data rows read (the header excluded).
    pub rows: u64,
    /// Rows written (0 when the import was refused as a whole).
    pub imported: u64,
    pub errors: Vec<RowError>,
    pub skip_bad: bool,
    /// Whether anything was committed.
    pub committed: bool,
    /// The file as a whole is unusable (unreadable header, missing or unknown columns).
    pub file_error: bool,
}

impl ImportReport {
    pub fn new(what: &str, skip_bad: bool) -> Self {
        Self { what: what.to_string(), skip_bad, ..Self::default() }
    }

    /// Records a bad row.
    pub fn reject(&mut self, line: u64, column: Option<&str>, message: impl Into<String>) {
        self.errors.push(RowError { line, column: column.map(str::to_string), message: message.into() });
    }

    /// Refuses the whole file (a header problem): reported on line 1, nothing imported even with --skip-bad.
    pub fn reject_file(&mut self, message: impl Into<String>) {
        self.file_error = true;
        self.reject(1, None, message);
    }

    pub fn bad_rows(&self) -> u64 {
        let mut lines: Vec<u64> = self.errors.iter().map(|e| e.line).collect();
        lines.dedup();
        lines.len() as u64
    }

    /// True when nothing may be committed: bad rows in all-or-nothing mode.
    pub fn refused(&self) -> bool {
        self.file_error || (!self.errors.is_empty() && !self.skip_bad)
    }

    /// The one-line outcome.
    pub fn summary(&self) -> String {
        let bad = self.bad_rows();
        if self.file_error {
            "The file was not imported: its header is not usable.".to_string()
        } else if self.refused() {
            format!(
                "{} rows read, {} bad: nothing imported (all or nothing; fix the file, or use --skip-bad to import \
                 the {} good rows).",
                self.rows,
                bad,
                self.rows.saturating_sub(bad)
            )
        } else if bad > 0 {
            format!("{} rows read: {} {} imported, {} bad rows skipped.", self.rows, self.imported, self.what, bad)
        } else {
            format!("{} rows read: {} {} imported.", self.rows, self.imported, self.what)
        }
    }

    /// The bad rows as CSV (`line,column,error`), for a downloadable report.
    pub fn errors_csv(&self) -> String {
        let mut w = csv::Writer::from_writer(Vec::new());
        let _ = w.write_record(["line", "column", "error"]);
        for e in &self.errors {
            let _ = w.write_record([e.line.to_string(), e.column.clone().unwrap_or_default(), e.message.clone()]);
        }
        String::from_utf8(w.into_inner().unwrap_or_default()).unwrap_or_default()
    }
}

impl fmt::Display for ImportReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.summary())?;
        for e in &self.errors {
            write!(f, "\n  {e}")?;
        }
        Ok(())
    }
}

/// A CSV reader for imports: headers on line 1, rows of any length (short rows are reported, not fatal),
/// leading whitespace kept as data. The csv crate drops a UTF-8 byte-order mark before the header.
///
/// Rows end at a line feed only: with the default CR/LF terminator the csv crate reports a row of a CRLF file
/// (what Excel writes) one line too early, because the row's position is taken before the LF left over from
/// the previous row is skipped. The CR then ends the last field, and every import trims its fields; a line
/// with nothing but a CR (a blank line) is passed over by `CsvRows`.
fn reader<R: std::io::Read>(input: R) -> csv::Reader<R> {
    csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .terminator(csv::Terminator::Any(b'\n'))
        .from_reader(input)
}

/// A row that could not be read (a field that is not UTF-8 or holds a NUL byte, a broken quote), with the line
/// it starts on.
#[derive(Debug)]
pub struct Unreadable {
    pub line: u64,
    pub error: RowProblem,
}

/// Why a row could not be read. A field's text problem names the column: PostgreSQL refuses NUL in text, and
/// a field that is not UTF-8 would be stored garbled.
#[derive(Debug)]
pub enum RowProblem {
    /// A field that is not valid UTF-8 or holds a NUL byte, by its column's name.
    Text { column: String, nul: bool },
    /// Anything else the CSV reader refused (a broken quote, an I/O error).
    Csv(csv::Error),
}

impl fmt::Display for RowProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RowProblem::Text { column, nul: true } => write!(f, "{column}: contains a NUL byte"),
            RowProblem::Text { column, nul: false } => write!(f, "{column}: not valid UTF-8"),
            RowProblem::Csv(e) => write!(f, "{e}"),
        }
    }
}

impl Unreadable {
    /// The column at fault, when one is.
    pub fn column(&self) -> Option<&str> {
        match &self.error {
            RowProblem::Text { column, .. } => Some(column),
            RowProblem::Csv(_) => None,
        }
    }

    /// The reason in words.
    pub fn message(&self) -> String {
        match &self.error {
            RowProblem::Text { nul: true, .. } => "contains a NUL byte".to_string(),
            RowProblem::Text { nul: false, .. } => "not valid UTF-8".to_string(),
            RowProblem::Csv(e) => format!("unreadable row: {e}"),
        }
    }
}

/// An import file read row by row (streamed, never whole in memory): the header row, then each data row with
/// the line it starts on (the header is line 1; a quoted field may span lines). An unreadable row is handed
/// to the caller's `on_unreadable` with its line and reading goes on; an I/O error ends the file after being
/// reported once.
pub struct CsvRows<R> {
    reader: csv::Reader<R>,
    headers: csv::StringRecord,
    record: csv::StringRecord,
    skip_blank: bool,
    ended: bool,
}

impl<R: std::io::Read> CsvRows<R> {
    /// Reads the header row; the error is the reason the header cannot be read.
    pub fn open(input: R) -> Result<Self, csv::Error> {
        let mut reader = reader(input);
        let headers = reader.headers()?.clone();
        Ok(Self { reader, headers, record: csv::StringRecord::new(), skip_blank: false, ended: false })
    }

    /// Passes over rows whose fields are all blank (spreadsheets leave them at the end of an export).
    pub fn skipping_blank_rows(mut self) -> Self {
        self.skip_blank = true;
        self
    }

    pub fn headers(&self) -> &csv::StringRecord {
        &self.headers
    }

    /// The name of column `i` (its position when the header has no name there).
    fn column(&self, i: usize) -> String {
        match self.headers.get(i).map(|h| h.trim_start_matches('\u{feff}').trim()) {
            Some(h) if !h.is_empty() => h.to_string(),
            _ => format!("column {}", i + 1),
        }
    }

    /// The next readable row and its line; None at the end of the file.
    pub fn next_row(&mut self, mut on_unreadable: impl FnMut(Unreadable)) -> Option<(u64, &csv::StringRecord)> {
        while !self.ended {
            let line_hint = self.reader.position().line();
            match self.reader.read_record(&mut self.record) {
                Ok(false) => self.ended = true,
                Ok(true) if self.record.len() == 1 && self.record[0] == *"\r" => {} // a blank CRLF line
                Ok(true) if self.skip_blank && self.record.iter().all(|f| f.trim().is_empty()) => {}
                Ok(true) => {
                    let line = self.record.position().map(|p| p.line()).unwrap_or(line_hint);
                    if let Some(i) = self.record.iter().position(|f| f.contains('\0')) {
                        on_unreadable(Unreadable {
                            line,
                            error: RowProblem::Text { column: self.column(i), nul: true },
                        });
                        continue;
                    }
                    return Some((line, &self.record));
                }
                Err(error) => {
                    // Without a position the error is the input's (I/O), not a row's: nothing more to read.
                    self.ended = error.position().is_none();
                    let line = error.position().map(|p| p.line()).unwrap_or(line_hint);
                    let error = match error.kind() {
                        csv::ErrorKind::Utf8 { err, .. } => {
                            RowProblem::Text { column: self.column(err.field()), nul: false }
                        }
                        _ => RowProblem::Csv(error),
                    };
                    on_unreadable(Unreadable { line, error });
                }
            }
        }
        None
    }
}

/// Columns found by header name (case-insensitive, surrounding spaces ignored).
#[derive(Debug, Clone)]
pub struct Columns {
    index: HashMap<String, usize>,
    width: usize,
}

impl Columns {
    /// Maps the header; fails (naming every problem) when a required column is missing or a column is unknown.
    pub fn new(headers: &csv::StringRecord, required: &[&str], optional: &[&str]) -> Result<Self, String> {
        let mut index = HashMap::new();
        let mut problems = Vec::new();
        for (i, h) in headers.iter().enumerate() {
            let name = h.trim().trim_start_matches('\u{feff}').to_ascii_lowercase();
            if name.is_empty() {
                continue;
            }
            if !required.contains(&name.as_str()) && !optional.contains(&name.as_str()) {
                problems.push(format!("unknown column {name:?}"));
            } else if index.insert(name.clone(), i).is_some() {
                problems.push(format!("column {name:?} appears twice"));
            }
        }
        for r in required {
            if !index.contains_key(*r) {
                problems.push(format!("missing column {r:?}"));
            }
        }
        if problems.is_empty() {
            Ok(Self { index, width: headers.len() })
        } else {
            let mut expected: Vec<&str> = required.to_vec();
            expected.extend_from_slice(optional);
            Err(format!("{} (columns: {})", problems.join("; "), expected.join(", ")))
        }
    }

    /// The trimmed value of a column in a row; empty when the column is absent or the row is short.
    pub fn get<'r>(&self, row: &'r csv::StringRecord, name: &str) -> &'r str {
        self.index.get(name).and_then(|&i| row.get(i)).map(str::trim).unwrap_or("")
    }

    /// The value, or None when empty.
    pub fn opt<'r>(&self, row: &'r csv::StringRecord, name: &str) -> Option<&'r str> {
        Some(self.get(row, name)).filter(|v| !v.is_empty())
    }

    /// The number of header fields (a row with more fields has stray data).
    pub fn width(&self) -> usize {
        self.width
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_byte_order_mark_does_not_hide_the_first_column() {
        let data = "\u{feff}External_ID , to_stage\nA-1,contacted\n";
        let mut r = reader(data.as_bytes());
        let cols = Columns::new(r.headers().unwrap(), &["external_id", "to_stage"], &[]).unwrap();
        let row = r.records().next().unwrap().unwrap();
        assert_eq!(cols.get(&row, "external_id"), "A-1");
        assert_eq!(row.position().unwrap().line(), 2);
    }

    #[test]
    fn rows_come_with_the_line_they_start_on_and_unreadable_rows_do_not_stop_the_file() {
        let mut data = b"name,note\nAna,\"two\nlines\"\n".to_vec();
        data.extend_from_slice(b"Bo,\xff\xfe\n,\n  , \nCy,ok\nDi\x00,ok\nEd,fine\n");
        let mut rows = CsvRows::open(data.as_slice()).unwrap().skipping_blank_rows();
        let mut bad = Vec::new();
        let mut seen = Vec::new();
        while let Some((line, row)) = rows.next_row(|u| bad.push((u.line, u.column().map(str::to_string), u.message())))
        {
            seen.push((line, row.get(0).unwrap_or("").to_string()));
        }
        let good = [(2, "Ana".to_string()), (7, "Cy".to_string()), (9, "Ed".to_string())];
        assert_eq!(seen, good, "Ana spans lines 2-3; 5 and 6 are blank");
        let bad_note = (4, Some("note".to_string()), "not valid UTF-8".to_string());
        let bad_name = (8, Some("name".to_string()), "contains a NUL byte".to_string());
        assert_eq!(bad, [bad_note, bad_name], "each names its column");
    }

    #[test]
    fn lines_are_right_in_a_crlf_file_and_its_blank_lines_are_passed_over() {
        let data = "external_id,to_stage\r\nA-1,contacted\r\n\r\nA-2,\"lost\r\nfor good\"\r\nA-3,new\r\n";
        let mut rows = CsvRows::open(data.as_bytes()).unwrap();
        let cols = Columns::new(rows.headers(), &["external_id", "to_stage"], &[]).unwrap();
        let mut seen = Vec::new();
        while let Some((line, row)) = rows.next_row(|u| panic!("{u:?}")) {
            seen.push((line, cols.get(row, "external_id").to_string(), cols.get(row, "to_stage").to_string()));
        }
        let want = [(2, "A-1", "contacted"), (4, "A-2", "lost\r\nfor good"), (6, "A-3", "new")];
        let want: Vec<(u64, String, String)> =
            want.iter().map(|(l, a, b)| (*l, a.to_string(), b.to_string())).collect();
        assert_eq!(seen, want);
    }

    #[test]
    fn header_problems_are_named() {
        let mut r = reader("external_id,colour\n".as_bytes());
        let err = Columns::new(r.headers().unwrap(), &["external_id", "to_stage"], &["source"]).unwrap_err();
        assert!(err.contains("unknown column \"colour\""), "{err}");
        assert!(err.contains("missing column \"to_stage\""), "{err}");
    }

    #[test]
    fn reports_say_what_happened() {
        let mut r = ImportReport::new("activities", false);
        r.rows = 5;
        r.reject(3, Some("occurred_at"), "not a time");
        assert!(r.refused());
        assert_eq!(
            r.to_string(),
            "5 rows read, 1 bad: nothing imported (all or nothing; fix the file, or use --skip-bad to import the 4 good rows).\n  line 3: occurred_at: not a time"
        );
        assert_eq!(r.errors_csv(), "line,column,error\n3,occurred_at,not a time\n");
        let mut ok = ImportReport::new("activities", true);
        ok.rows = 5;
        ok.imported = 4;
        ok.reject(3, None, "bad");
        assert_eq!(ok.summary(), "5 rows read: 4 activities imported, 1 bad rows skipped.");
    }
}
