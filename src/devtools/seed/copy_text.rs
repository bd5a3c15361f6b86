//! Rows in PostgreSQL's COPY text format (tab-separated, `\N` for NULL, backslash escapes), written straight
//! into byte buffers: formatting through `std::fmt` would cost more than the whole rest of the generator.

use uuid::Uuid;

/// One table's rows for one COPY statement.
#[derive(Default)]
pub struct CopyBuf {
    pub bytes: Vec<u8>,
    pub rows: u64,
    first: bool,
}

impl CopyBuf {
    pub fn with_capacity(n: usize) -> Self {
        Self { bytes: Vec::with_capacity(n), rows: 0, first: true }
    }

    fn sep(&mut self) {
        if self.first {
            self.first = false;
        } else {
            self.bytes.push(b'\t');
        }
    }

    /// Ends the current row.
    pub fn end_row(&mut self) {
        self.bytes.push(b'\n');
        self.rows += 1;
        self.first = true;
    }

    pub fn null(&mut self) {
        self.sep();
        self.bytes.extend_from_slice(b"\\N");
    }

    pub fn text(&mut self, s: &str) {
        self.sep();
        for &b in s.as_bytes() {
            match b {
                b'\\' => self.bytes.extend_from_slice(b"\\\\"),
                b'\t' => self.bytes.extend_from_slice(b"\\t"),
                b'\n' => self.bytes.extend_from_slice(b"\\n"),
                b'\r' => self.bytes.extend_from_slice(b"\\r"),
                _ => self.bytes.push(b),
            }
        }
    }

    pub fn opt_text(&mut self, s: Option<&str>) {
        match s {
            Some(s) => self.text(s),
            None => self.null(),
        }
    }

    pub fn int(&mut self, v: i64) {
        self.sep();
        push_int(&mut self.bytes, v);
    }

    pub fn uuid(&mut self, id: Uuid) {
        self.sep();
        let mut buf = [0u8; 36];
        self.bytes.extend_from_slice(id.as_hyphenated().encode_lower(&mut buf).as_bytes());
    }

    pub fn opt_uuid(&mut self, id: Option<Uuid>) {
        match id {
            Some(id) => self.uuid(id),
            None => self.null(),
        }
    }

    /// A UTC timestamp given as Unix seconds.
    pub fn ts(&mut self, secs: i64) {
        self.sep();
        push_timestamp(&mut self.bytes, secs);
    }

    pub fn opt_ts(&mut self, secs: Option<i64>) {
        match secs {
            Some(s) => self.ts(s),
            None => self.null(),
        }
    }

    /// A fixed-point decimal with three places given in thousandths (6.875 as 6875).
    pub fn decimal3(&mut self, thousandths: i64) {
        self.sep();
        push_int(&mut self.bytes, thousandths / 1000);
        self.bytes.push(b'.');
        let frac = (thousandths % 1000).unsigned_abs();
        self.bytes.push(b'0' + (frac / 100) as u8);
        self.bytes.push(b'0' + (frac / 10 % 10) as u8);
        self.bytes.push(b'0' + (frac % 10) as u8);
    }

    /// A text array literal of simple words (no quoting needed: state codes).
    pub fn text_array(&mut self, items: &[&str]) {
        self.sep();
        self.bytes.push(b'{');
        for (i, s) in items.iter().enumerate() {
            if i > 0 {
                self.bytes.push(b',');
            }
            self.bytes.extend_from_slice(s.as_bytes());
        }
        self.bytes.push(b'}');
    }
}

fn push_int(out: &mut Vec<u8>, v: i64) {
    if v < 0 {
        out.push(b'-');
    }
    let mut n = v.unsigned_abs();
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[i..]);
}

fn push2(out: &mut Vec<u8>, v: u32) {
    out.push(b'0' + (v / 10) as u8);
    out.push(b'0' + (v % 10) as u8);
}

/// The civil date of a day number since 1970-01-01 (Howard Hinnant's algorithm).
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// `YYYY-MM-DD HH:MM:SS+00`
pub fn push_timestamp(out: &mut Vec<u8>, secs: i64) {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400) as u32;
    let (y, m, d) = civil_from_days(days);
    push_int(out, y);
    out.push(b'-');
    push2(out, m);
    out.push(b'-');
    push2(out, d);
    out.push(b' ');
    push2(out, rem / 3600);
    out.push(b':');
    push2(out, rem / 60 % 60);
    out.push(b':');
    push2(out, rem % 60);
    out.extend_from_slice(b"+00");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_match_chrono() {
        for secs in [0i64, 951_782_400, 1_700_000_000, 1_795_000_123, 4_107_542_399] {
            let mut out = Vec::new();
            push_timestamp(&mut out, secs);
            let expected =
                chrono::DateTime::from_timestamp(secs, 0).unwrap().format("%Y-%m-%d %H:%M:%S+00").to_string();
            assert_eq!(String::from_utf8(out).unwrap(), expected);
        }
    }

    #[test]
    fn rows_escape_and_mark_nulls() {
        let mut b = CopyBuf::with_capacity(64);
        b.text("a\tb\\c\nd");
        b.null();
        b.int(-42);
        b.decimal3(6875);
        b.text_array(&["TX", "CA"]);
        b.end_row();
        assert_eq!(String::from_utf8(b.bytes).unwrap(), "a\\tb\\\\c\\nd\t\\N\t-42\t6.875\t{TX,CA}\n");
        assert_eq!(b.rows, 1);
    }
}
