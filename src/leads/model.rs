//! Lead rules that need no database: normalising and checking what borrowers, vendors and LOs type in,
//! stage transition rules, and spreadsheet-safe CSV cells.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::FieldErrors;

pub use crate::web::us::{US_STATES, is_us_state};

/// (key, label) lists shown in forms and accepted from the API and CSV.
pub const LOAN_PURPOSES: [(&str, &str); 6] = [
    ("purchase", "Purchase"),
    ("refinance", "Rate/term refinance"),
    ("cash_out", "Cash-out refinance"),
    ("heloc", "HELOC"),
    ("construction", "Construction"),
    ("reverse", "Reverse mortgage"),
];
pub const CREDIT_BANDS: [(&str, &str); 5] = [
    ("excellent", "Excellent (740+)"),
    ("good", "Good (700–739)"),
    ("fair", "Fair (660–699)"),
    ("poor", "Poor (620–659)"),
    ("subprime", "Subprime (below 620)"),
];
pub const OCCUPANCIES: [(&str, &str); 3] =
    [("primary", "Primary residence"), ("second_home", "Second home"), ("investment", "Investment property")];
pub const PROPERTY_TYPES: [(&str, &str); 5] = [
    ("single_family", "Single family"),
    ("condo", "Condo"),
    ("townhouse", "Townhouse"),
    ("multi_family", "2–4 unit"),
    ("manufactured", "Manufactured"),
];
pub const CALL_OUTCOMES: [(&str, &str); 5] = [
    ("contacted", "Contacted"),
    ("no_answer", "No answer"),
    ("voicemail", "Left voicemail"),
    ("bad_number", "Bad number"),
    ("do_not_call", "Do not call"),
];
pub const ACTIVITY_KINDS: [&str; 5] = ["call", "email", "text", "note", "meeting"];
pub const CONSENT_CHANNELS: [&str; 4] = ["call", "text", "email", "all"];

fn is_key(list: &[(&str, &str)], v: &str) -> bool {
    list.iter().any(|(k, _)| *k == v)
}

/// Label for a key in one of the lists above (the key itself when unknown).
pub fn label_of<'a>(list: &'a [(&'a str, &'a str)], key: &'a str) -> &'a str {
    list.iter().find(|(k, _)| *k == key).map(|(_, l)| *l).unwrap_or(key)
}

/// The credit band for a FICO score.
pub fn credit_band_for_score(score: u16) -> &'static str {
    match score {
        740.. => "excellent",
        700..=739 => "good",
        660..=699 => "fair",
        620..=659 => "poor",
        _ => "subprime",
    }
}

/// A US phone number in E.164 (`+1XXXXXXXXXX`): 10 digits, or 11 starting with 1; punctuation ignored.
pub fn normalize_phone(raw: &str) -> Result<String, String> {
    let trimmed = raw.trim();
    if trimmed.chars().any(|c| c.is_ascii_alphabetic()) {
        return Err("a phone number has digits only (no letters or extensions)".into());
    }
    let digits: String = trimmed.chars().filter(char::is_ascii_digit).collect();
    let national = match digits.len() {
        10 => digits.as_str(),
        11 if digits.starts_with('1') => &digits[1..],
        n => return Err(format!("a US phone number has 10 digits (or 11 starting with 1); this has {n}")),
    };
    if national.starts_with('0') || national.starts_with('1') {
        return Err("a US area code cannot start with 0 or 1".into());
    }
    Ok(format!("+1{national}"))
}

/// A plausible email address, lower-cased. Deliberately simple: one `@`, a dot in the domain, no spaces.
pub fn normalize_email(raw: &str) -> Result<String, String> {
    let e = raw.trim().to_lowercase();
    let Some((local, domain)) = e.split_once('@') else { return Err("an email address needs an @".into()) };
    let ok = !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains('@')
        && !e.chars().any(|c| c.is_whitespace() || c == ',' || c == ';' || c == '<' || c == '>')
        && e.len() <= 254;
    if ok { Ok(e) } else { Err("this is not a valid email address".into()) }
}

/// Dollars as typed ("400000", "400,000.00", "$400,000") to integer cents, or why not (`web::money`).
pub fn parse_money(raw: &str) -> Result<i64, String> {
    crate::web::money::parse_amount(raw).map_err(String::from)
}

/// Cents as dollars for display ("$400,000", "$400,000.50"; the one implementation: `web::money`).
pub use crate::web::money::amount as format_money;

/// Loan-to-value in basis points (80.00% → 8000), rounded half up; None without a positive value.
pub fn ltv_bps(loan_cents: Option<i64>, value_cents: Option<i64>) -> Option<i64> {
    let (l, v) = (loan_cents? as i128, value_cents? as i128);
    if v <= 0 {
        return None;
    }
    Some(((l * 10_000 * 2 + v) / (2 * v)) as i64)
}

/// A rate as thousandths of a percent ("6.875" → 6875). Accepts up to three decimals, 0 < rate < 30.
pub fn parse_rate(raw: &str) -> Result<i32, String> {
    let s = raw.trim().trim_end_matches('%').trim();
    let (w, f) = s.split_once('.').unwrap_or((s, ""));
    if w.is_empty() || !w.chars().all(|c| c.is_ascii_digit()) || f.len() > 3 || !f.chars().all(|c| c.is_ascii_digit()) {
        return Err("enter a rate as a percent, like 6.875".into());
    }
    let whole: i32 = w.parse().map_err(|_| "enter a rate as a percent, like 6.875".to_string())?;
    let frac: i32 = format!("{f:0<3}").parse().unwrap_or(0);
    let milli = whole.saturating_mul(1000).saturating_add(frac);
    if milli == 0 || milli >= 30_000 {
        return Err("a mortgage rate is between 0 and 30 percent".into());
    }
    Ok(milli)
}

/// Thousandths of a percent as text ("6.875", "7.5").
pub fn format_rate(milli: i32) -> String {
    let s = format!("{}.{:03}", milli / 1000, milli % 1000);
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// Talk time as typed in the call form: "4:30", "0:45", "1:02:03" or plain seconds "270".
pub fn parse_talk_time(raw: &str) -> Result<i32, String> {
    let s = raw.trim();
    if s.is_empty() {
        return Ok(0);
    }
    let bad = || "enter talk time as minutes:seconds (4:30) or seconds (270)".to_string();
    let parts: Vec<&str> = s.split(':').collect();
    if parts.len() > 3 || parts.iter().any(|p| p.is_empty() || !p.chars().all(|c| c.is_ascii_digit()) || p.len() > 6) {
        return Err(bad());
    }
    let nums: Vec<i64> = parts.iter().map(|p| p.parse::<i64>().unwrap_or(0)).collect();
    if nums.len() > 1 && nums[nums.len() - 1] >= 60 {
        return Err("seconds must be below 60".into());
    }
    let total = nums.iter().fold(0i64, |acc, n| acc * 60 + n);
    if total > 24 * 3600 {
        return Err("a call cannot last more than a day".into());
    }
    Ok(total as i32)
}

/// Seconds as "m:ss".
pub fn format_talk_time(secs: i32) -> String {
    format!("{}:{:02}", secs / 60, secs % 60)
}

/// A spreadsheet-safe cell (the one rule lives in `web::csv`).
pub use crate::web::csv::safe_cell as neutralize_cell;

/// A stage of a pipeline, as configured by admins.
#[derive(Debug, Clone, Serialize)]
pub struct StageDef {
    pub key: String,
    pub label: String,
    pub position: i32,
    /// `open`, `won`, `lost` or `nurture`.
    pub kind: String,
    pub stale_after_days: Option<i32>,
}

/// Checks a move from `from` to `to`; `lost` needs a reason from the managed list.
pub fn check_transition(
    stages: &[StageDef],
    from: &str,
    to: &str,
    lost_reason: Option<&str>,
    reasons: &[String],
) -> Result<(), FieldErrors> {
    let mut e = FieldErrors::new();
    match stages.iter().find(|s| s.key == to) {
        None => e.add("stage", "unknown stage"),
        Some(_) if to == from => e.add("stage", "the lead is already in this stage"),
        Some(s) if s.kind == "lost" => match lost_reason.map(str::trim).filter(|r| !r.is_empty()) {
            None => e.add("lost_reason", "choose why the lead was lost"),
            Some(r) if !reasons.iter().any(|k| k == r) => e.add("lost_reason", "unknown lost reason"),
            Some(_) => {}
        },
        Some(_) => {}
    }
    if e.is_empty() { Ok(()) } else { Err(e) }
}

/// Consent to be contacted, as captured on the vendor's or our web form (TCPA).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ConsentInput {
    pub channel: Option<String>,
    pub text: Option<String>,
    pub captured_at: Option<String>,
    pub token: Option<String>,
    pub source_page: Option<String>,
}

/// A lead as typed (form, API body or CSV row): every field text, checked by [`LeadDraft::validate`].
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct LeadDraft {
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    pub phone: String,
    pub property_state: String,
    pub property_zip: String,
    pub loan_purpose: String,
    /// Integer cents (API, CSV).
    pub loan_amount_cents: String,
    pub property_value_cents: String,
    /// Dollars as typed (forms, CSV alternative): "$400,000".
    pub loan_amount: String,
    pub property_value: String,
    pub credit_band: String,
    pub occupancy: String,
    pub property_type: String,
    pub rate_quoted: String,
    pub source: String,
    pub campaign: String,
    pub vendor: String,
    pub cost_cents: String,
    pub external_id: String,
    /// The loan's number in the lender's LOS, set by the LO or the LOS once an application exists; the LOS
    /// status import and API find the lead by it.
    pub loan_number: String,
    /// The past client who referred this borrower, by the loan number of their loan in the portfolio.
    pub referred_by_loan_number: String,
    /// The referral partner (Realtor, builder…) who sent this borrower, by the partner's id.
    pub referral_partner_id: String,
    pub consent: Option<ConsentInput>,
    /// Channels the borrower opted out of, as the source sent them ("call; email"): recorded with the lead.
    pub opt_out: String,
}

/// A checked lead, ready to store.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LeadFields {
    pub first_name: String,
    pub last_name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub property_state: Option<String>,
    pub property_zip: Option<String>,
    pub loan_purpose: Option<String>,
    pub loan_amount_cents: Option<i64>,
    pub property_value_cents: Option<i64>,
    pub credit_band: Option<String>,
    pub occupancy: Option<String>,
    pub property_type: Option<String>,
    /// Thousandths of a percent.
    pub rate_quoted_milli: Option<i32>,
    pub source: String,
    pub campaign: Option<String>,
    pub vendor: Option<String>,
    pub cost_cents: i64,
    pub external_id: Option<String>,
    /// Unique across the organisation's leads (`leads_loan_number_idx`); checked when stored.
    pub loan_number: Option<String>,
    /// Must name a portfolio loan; resolved when stored.
    pub referred_by_loan_number: Option<String>,
    /// Must name an active referral partner; checked when stored.
    pub referral_partner_id: Option<Uuid>,
    pub consent: Option<Consent>,
    /// `call`, `text`, `email` or `all`: opt-outs recorded with the lead (never removed by an edit).
    pub opt_outs: Vec<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Consent {
    pub channel: String,
    pub text: String,
    pub captured_at: Option<DateTime<Utc>>,
    pub token: Option<String>,
    pub source_page: Option<String>,
}

/// A property state as typed ("tx"): the two-letter code, or an error on the field.
fn check_state(e: &mut FieldErrors, s: String) -> Option<String> {
    let up = s.to_uppercase();
    if is_us_state(&up) {
        Some(up)
    } else {
        e.add("property_state", "use a two-letter US state code, like TX");
        None
    }
}

/// A ZIP code (12345) or ZIP+4 (12345-6789), or an error on the field.
fn check_zip(e: &mut FieldErrors, z: String) -> Option<String> {
    let ok = (z.len() == 5 && z.chars().all(|c| c.is_ascii_digit()))
        || (z.len() == 10
            && z.as_bytes()[5] == b'-'
            && z.chars().enumerate().all(|(i, c)| i == 5 || c.is_ascii_digit()));
    if ok {
        Some(z)
    } else {
        e.add("property_zip", "a ZIP code has 5 digits (or ZIP+4: 12345-6789)");
        None
    }
}

/// The consent a lead arrived with (TCPA evidence), checked; None when none was sent.
fn check_consent(e: &mut FieldErrors, c: &ConsentInput) -> Option<Consent> {
    if c == &ConsentInput::default() {
        return None;
    }
    let channel = opt(c.channel.as_deref().unwrap_or("")).map(|s| s.to_lowercase());
    let channel = match channel {
        Some(ch) if CONSENT_CHANNELS.contains(&ch.as_str()) => Some(ch),
        Some(_) => {
            e.add("consent.channel", "must be one of: call, text, email, all");
            None
        }
        None => {
            e.add("consent.channel", "say which channel the consent covers");
            None
        }
    };
    let captured_at = match opt(c.captured_at.as_deref().unwrap_or("")) {
        Some(t) => parse_time(&t).map_err(|m| e.add("consent.captured_at", m)).ok(),
        None => None,
    };
    channel.map(|channel| Consent {
        channel,
        text: c.text.clone().unwrap_or_default().trim().to_string(),
        captured_at,
        token: c.token.as_deref().and_then(opt),
        source_page: c.source_page.as_deref().and_then(opt),
    })
}

fn opt(s: &str) -> Option<String> {
    let t = s.trim();
    if t.is_empty() { None } else { Some(t.to_string()) }
}

fn parse_cents(raw: &str) -> Result<i64, String> {
    let s: String = raw.trim().chars().filter(|c| *c != ',' && *c != '_').collect();
    match s.parse::<i64>() {
        Ok(v) if v >= 0 => Ok(v),
        Ok(_) => Err("cannot be negative".into()),
        Err(_) => Err("enter whole cents as an integer, like 40000000".into()),
    }
}

/// An RFC 3339 time or a plain `YYYY-MM-DD` date (midnight UTC).
pub fn parse_time(raw: &str) -> Result<DateTime<Utc>, String> {
    let s = raw.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Ok(d.and_hms_opt(0, 0, 0).map(|n| n.and_utc()).unwrap_or_default());
    }
    if let Ok(n) = chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M") {
        return Ok(n.and_utc());
    }
    Err("use an RFC 3339 time like 2026-03-01T14:30:00Z".into())
}

/// A loan number as the LOS writes it: 1 to 64 letters, digits and `- _ . /`, starting with a letter or digit
/// (so it can never be read as a formula or an option).
pub fn check_loan_number(raw: &str) -> Result<Option<String>, String> {
    let Some(n) = opt(raw) else { return Ok(None) };
    let ok = n.len() <= 64
        && n.starts_with(|c: char| c.is_ascii_alphanumeric())
        && n.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'));
    if ok {
        Ok(Some(n))
    } else {
        Err("a loan number has up to 64 letters, digits and - _ . / (like LN-2026-0042)".into())
    }
}

fn keyed(e: &mut FieldErrors, field: &str, raw: &str, list: &[(&str, &str)]) -> Option<String> {
    let v = opt(raw)?.to_lowercase().replace(['-', ' '], "_");
    if is_key(list, &v) {
        Some(v)
    } else {
        let keys: Vec<&str> = list.iter().map(|(k, _)| *k).collect();
        e.add(field, format!("must be one of: {}", keys.join(", ")));
        None
    }
}

impl LeadDraft {
    /// Checks and normalises every field; all problems at once, per field.
    pub fn validate(&self) -> Result<LeadFields, FieldErrors> {
        let mut e = FieldErrors::new();
        let first_name = self.first_name.trim().to_string();
        let last_name = self.last_name.trim().to_string();
        if first_name.is_empty() && last_name.is_empty() {
            e.add("last_name", "enter the borrower's name");
        }
        if first_name.chars().count() > 100 {
            e.add("first_name", "at most 100 characters");
        }
        if last_name.chars().count() > 100 {
            e.add("last_name", "at most 100 characters");
        }
        let email = opt(&self.email).and_then(|v| normalize_email(&v).map_err(|m| e.add("email", m)).ok());
        let phone = opt(&self.phone).and_then(|v| normalize_phone(&v).map_err(|m| e.add("phone", m)).ok());
        if opt(&self.email).is_none() && opt(&self.phone).is_none() {
            e.add("phone", "enter a phone number or an email address");
        }
        let property_state = opt(&self.property_state).and_then(|s| check_state(&mut e, s));
        let property_zip = opt(&self.property_zip).and_then(|z| check_zip(&mut e, z));
        let loan_purpose = keyed(&mut e, "loan_purpose", &self.loan_purpose, &LOAN_PURPOSES);
        let credit_band = keyed(&mut e, "credit_band", &self.credit_band, &CREDIT_BANDS);
        let occupancy = keyed(&mut e, "occupancy", &self.occupancy, &OCCUPANCIES);
        let property_type = keyed(&mut e, "property_type", &self.property_type, &PROPERTY_TYPES);
        let money = |e: &mut FieldErrors, cents_field: &str, cents: &str, dollars_field: &str, dollars: &str| {
            if let Some(c) = opt(cents) {
                parse_cents(&c).map_err(|m| e.add(cents_field, m)).ok()
            } else if let Some(d) = opt(dollars) {
                parse_money(&d).map_err(|m| e.add(dollars_field, m)).ok()
            } else {
                None
            }
        };
        let loan_amount_cents =
            money(&mut e, "loan_amount_cents", &self.loan_amount_cents, "loan_amount", &self.loan_amount);
        let property_value_cents =
            money(&mut e, "property_value_cents", &self.property_value_cents, "property_value", &self.property_value);
        if let (Some(l), Some(v)) = (loan_amount_cents, property_value_cents) {
            if v > 0 && l > v.saturating_mul(2) {
                e.add("loan_amount_cents", "the loan amount is more than twice the property value");
            }
        }
        let rate_quoted_milli =
            opt(&self.rate_quoted).and_then(|r| parse_rate(&r).map_err(|m| e.add("rate_quoted", m)).ok());
        let source = opt(&self.source).map(|s| s.to_lowercase()).unwrap_or_else(|| "direct".into());
        if source.len() > 64 || !source.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.') {
            e.add("source", "use a short key: letters, digits, - _ .");
        }
        let cost_cents = match opt(&self.cost_cents) {
            Some(c) => parse_cents(&c).map_err(|m| e.add("cost_cents", m)).unwrap_or(0),
            None => 0,
        };
        let external_id = opt(&self.external_id);
        if external_id.as_ref().is_some_and(|x| x.len() > 128) {
            e.add("external_id", "at most 128 characters");
        }
        let loan_number = check_loan_number(&self.loan_number).map_err(|m| e.add("loan_number", m)).ok().flatten();
        let referred_by_loan_number = check_loan_number(&self.referred_by_loan_number)
            .map_err(|m| e.add("referred_by_loan_number", m))
            .ok()
            .flatten();
        if loan_number.is_some() && loan_number == referred_by_loan_number {
            e.add("referred_by_loan_number", "a loan cannot refer itself");
        }
        let referral_partner_id = match opt(&self.referral_partner_id) {
            None => None,
            Some(v) => {
                Uuid::parse_str(&v).map_err(|_| e.add("referral_partner_id", "not a referral partner's id")).ok()
            }
        };
        let consent = self.consent.as_ref().and_then(|c| check_consent(&mut e, c));
        let opt_outs =
            super::consent::opt_out_channels(&self.opt_out).map_err(|m| e.add("opt_out", m)).unwrap_or_default();
        if !e.is_empty() {
            return Err(e);
        }
        Ok(LeadFields {
            first_name,
            last_name,
            email,
            phone,
            property_state,
            property_zip,
            loan_purpose,
            loan_amount_cents,
            property_value_cents,
            credit_band,
            occupancy,
            property_type,
            rate_quoted_milli,
            source,
            campaign: opt(&self.campaign),
            vendor: opt(&self.vendor),
            cost_cents,
            external_id,
            loan_number,
            referred_by_loan_number,
            referral_partner_id,
            consent,
            opt_outs,
        })
    }

    /// Sets one field by its API/CSV name; false for an unknown name.
    pub fn set(&mut self, field: &str, value: String) -> bool {
        let slot = match field {
            "first_name" => &mut self.first_name,
            "last_name" => &mut self.last_name,
            "email" => &mut self.email,
            "phone" => &mut self.phone,
            "property_state" => &mut self.property_state,
            "property_zip" => &mut self.property_zip,
            "loan_purpose" => &mut self.loan_purpose,
            "loan_amount_cents" => &mut self.loan_amount_cents,
            "property_value_cents" => &mut self.property_value_cents,
            "loan_amount" => &mut self.loan_amount,
            "property_value" => &mut self.property_value,
            "credit_band" => &mut self.credit_band,
            "occupancy" => &mut self.occupancy,
            "property_type" => &mut self.property_type,
            "rate_quoted" => &mut self.rate_quoted,
            "source" => &mut self.source,
            "campaign" => &mut self.campaign,
            "vendor" => &mut self.vendor,
            "cost_cents" => &mut self.cost_cents,
            "external_id" => &mut self.external_id,
            "loan_number" => &mut self.loan_number,
            "referred_by_loan_number" => &mut self.referred_by_loan_number,
            "referral_partner_id" => &mut self.referral_partner_id,
            "opt_out" => &mut self.opt_out,
            _ => {
                let c = self.consent.get_or_insert_with(ConsentInput::default);
                let slot = match field {
                    "consent_channel" => &mut c.channel,
                    "consent_text" => &mut c.text,
                    "consent_captured_at" => &mut c.captured_at,
                    "consent_token" => &mut c.token,
                    "consent_source_page" => &mut c.source_page,
                    _ => return false,
                };
                *slot = Some(value);
                return true;
            }
        };
        *slot = value;
        true
    }
}

/// The lead fields a CSV import understands (API names), plus flattened consent columns.
pub const CSV_COLUMNS: [&str; 29] = [
    "first_name",
    "last_name",
    "email",
    "phone",
    "property_state",
    "property_zip",
    "loan_purpose",
    "loan_amount_cents",
    "property_value_cents",
    "loan_amount",
    "property_value",
    "credit_band",
    "occupancy",
    "property_type",
    "rate_quoted",
    "source",
    "campaign",
    "vendor",
    "cost_cents",
    "external_id",
    "loan_number",
    "referred_by_loan_number",
    "referral_partner_id",
    "consent_channel",
    "consent_text",
    "consent_captured_at",
    "consent_token",
    "consent_source_page",
    "opt_out",
];

/// Where a lead sits in the LO's call queue: lower comes first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum QueueReason {
    /// Never called yet: speed to lead.
    NewUncontacted = 0,
    /// A callback the LO promised, now due.
    CallbackDue = 1,
    /// No movement for longer than the stage allows.
    Stale = 2,
}

impl QueueReason {
    pub fn label(self) -> &'static str {
        match self {
            QueueReason::NewUncontacted => "New — not yet called",
            QueueReason::CallbackDue => "Callback due",
            QueueReason::Stale => "Stale",
        }
    }
}

/// Orders the call queue: reason first, then the oldest (longest waiting) first.
pub fn order_queue<T>(items: &mut [T], key: impl Fn(&T) -> (QueueReason, DateTime<Utc>)) {
    items.sort_by_key(|i| key(i));
}

/// Whether a lead in a stage with `stale_after_days`, unchanged since `last_touch`, is stale at `now`.
pub fn is_stale(stale_after_days: Option<i32>, last_touch: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    stale_after_days.is_some_and(|d| now - last_touch > chrono::Duration::days(d as i64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phones_normalise_to_e164() {
        assert_eq!(normalize_phone("(512) 555-0142").unwrap(), "+15125550142");
        assert_eq!(normalize_phone("1-512-555-0142").unwrap(), "+15125550142");
        assert_eq!(normalize_phone("+1 512.555.0142").unwrap(), "+15125550142");
        assert!(normalize_phone("555-0142").unwrap_err().contains("has 7"));
        assert!(normalize_phone("2-512-555-0142").is_err());
        assert!(normalize_phone("(012) 555-0142").is_err());
        assert!(normalize_phone("512 555 0142 ext 4").is_err());
    }

    #[test]
    fn emails_are_checked_and_lowercased() {
        assert_eq!(normalize_email(" Ana@Example.COM ").unwrap(), "ana@example.com");
        for bad in ["ana", "ana@", "@x.com", "ana@x", "a b@x.com", "ana@x.com."] {
            assert!(normalize_email(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn money_parses_to_cents_without_floats() {
        assert_eq!(parse_money("400000"), Ok(40_000_000));
        assert_eq!(parse_money("400,000.00"), Ok(40_000_000));
        assert_eq!(parse_money("$400,000"), Ok(40_000_000));
        assert_eq!(parse_money("1234.5"), Ok(123_450));
        assert_eq!(parse_money("0.07"), Ok(7));
        assert!(parse_money("12.345").is_err());
        assert!(parse_money("-5").is_err());
        assert!(parse_money("4e5").is_err());
        assert!(parse_money("99999999999999999999").is_err());
        assert_eq!(format_money(40_000_000), "$400,000");
        assert_eq!(format_money(123_450), "$1,234.50");
    }

    #[test]
    fn ltv_is_basis_points_rounded() {
        assert_eq!(ltv_bps(Some(32_000_000), Some(40_000_000)), Some(8000));
        // 1/3 = 33.33%
        assert_eq!(ltv_bps(Some(100), Some(300)), Some(3333));
        // 2/3 = 66.67% (rounds half up)
        assert_eq!(ltv_bps(Some(200), Some(300)), Some(6667));
        assert_eq!(ltv_bps(Some(100), Some(0)), None);
        assert_eq!(ltv_bps(None, Some(10)), None);
    }

    #[test]
    fn rates_are_thousandths_of_a_percent() {
        assert_eq!(parse_rate("6.875"), Ok(6875));
        assert_eq!(parse_rate("7.5%"), Ok(7500));
        assert_eq!(format_rate(6875), "6.875");
        assert_eq!(format_rate(7500), "7.5");
        assert!(parse_rate("6.8755").is_err());
        assert!(parse_rate("35").is_err());
    }

    #[test]
    fn talk_time_accepts_minutes_seconds_or_seconds() {
        assert_eq!(parse_talk_time("4:30"), Ok(270));
        assert_eq!(parse_talk_time("270"), Ok(270));
        assert_eq!(parse_talk_time("1:02:03"), Ok(3723));
        assert_eq!(parse_talk_time(""), Ok(0));
        assert!(parse_talk_time("4:75").is_err());
        assert!(parse_talk_time("four").is_err());
        assert_eq!(format_talk_time(270), "4:30");
    }

    #[test]
    fn credit_bands_follow_fico_cutoffs() {
        assert_eq!(credit_band_for_score(740), "excellent");
        assert_eq!(credit_band_for_score(739), "good");
        assert_eq!(credit_band_for_score(700), "good");
        assert_eq!(credit_band_for_score(699), "fair");
        assert_eq!(credit_band_for_score(660), "fair");
        assert_eq!(credit_band_for_score(659), "poor");
        assert_eq!(credit_band_for_score(620), "poor");
        assert_eq!(credit_band_for_score(619), "subprime");
    }

    #[test]
    fn formula_cells_are_neutralised() {
        assert_eq!(neutralize_cell("=cmd()"), "'=cmd()");
        assert_eq!(neutralize_cell("+1 512"), "'+1 512");
        assert_eq!(neutralize_cell("-2"), "'-2");
        assert_eq!(neutralize_cell("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(neutralize_cell("\tx"), "'\tx");
        assert_eq!(neutralize_cell("\rx"), "'\rx");
        assert_eq!(neutralize_cell("Ana"), "Ana");
        assert_eq!(neutralize_cell(""), "");
    }

    fn stages() -> Vec<StageDef> {
        [("new", "open"), ("contacted", "open"), ("application", "open"), ("lost", "lost"), ("funded", "won")]
            .iter()
            .enumerate()
            .map(|(i, (k, kind))| StageDef {
                key: k.to_string(),
                label: k.to_string(),
                position: i as i32,
                kind: kind.to_string(),
                stale_after_days: None,
            })
            .collect()
    }

    #[test]
    fn lost_needs_a_known_reason() {
        let reasons = vec!["rate".to_string()];
        let e = check_transition(&stages(), "new", "lost", None, &reasons).unwrap_err();
        assert_eq!(e.get("lost_reason"), Some("choose why the lead was lost"));
        assert!(check_transition(&stages(), "new", "lost", Some("weather"), &reasons).is_err());
        assert!(check_transition(&stages(), "new", "lost", Some("rate"), &reasons).is_ok());
        assert!(check_transition(&stages(), "new", "application", None, &reasons).is_ok());
        assert!(check_transition(&stages(), "new", "new", None, &reasons).is_err());
        assert!(check_transition(&stages(), "new", "bogus", None, &reasons).is_err());
    }

    #[test]
    fn drafts_validate_every_field_at_once() {
        let d = LeadDraft {
            first_name: "Ana".into(),
            phone: "555".into(),
            property_state: "ZZ".into(),
            loan_purpose: "Cash-Out".into(),
            loan_amount: "$300,000".into(),
            property_value: "400000".into(),
            credit_band: "great".into(),
            ..Default::default()
        };
        let e = d.validate().unwrap_err();
        assert!(e.get("phone").is_some());
        assert!(e.get("property_state").is_some());
        assert!(e.get("credit_band").is_some());
        assert!(e.get("loan_purpose").is_none(), "Cash-Out normalises to cash_out");
        let ok =
            LeadDraft { phone: "512-555-0142".into(), property_state: "tx".into(), credit_band: "good".into(), ..d }
                .validate()
                .unwrap();
        assert_eq!(ok.loan_purpose.as_deref(), Some("cash_out"));
        assert_eq!(ok.loan_amount_cents, Some(30_000_000));
        assert_eq!(ok.property_state.as_deref(), Some("TX"));
        assert_eq!(ltv_bps(ok.loan_amount_cents, ok.property_value_cents), Some(7500));
    }

    #[test]
    fn loan_numbers_are_short_plain_keys() {
        assert_eq!(check_loan_number(" LN-2026/0042 "), Ok(Some("LN-2026/0042".into())));
        assert_eq!(check_loan_number("  "), Ok(None));
        for bad in ["=HYPERLINK(1)", "-5", "LN 1", &"9".repeat(65)] {
            assert!(check_loan_number(bad).is_err(), "{bad}");
        }
        let d = LeadDraft {
            last_name: "Lee".into(),
            phone: "512-555-0142".into(),
            loan_number: "LN-1".into(),
            referred_by_loan_number: "LN-1".into(),
            ..Default::default()
        };
        assert!(d.validate().unwrap_err().get("referred_by_loan_number").is_some());
    }

    #[test]
    fn queue_orders_new_then_callbacks_then_stale_oldest_first() {
        let t = |h: i64| Utc::now() - chrono::Duration::hours(h);
        let mut q = vec![
            ("stale", QueueReason::Stale, t(100)),
            ("cb", QueueReason::CallbackDue, t(1)),
            ("new-young", QueueReason::NewUncontacted, t(1)),
            ("new-old", QueueReason::NewUncontacted, t(5)),
        ];
        order_queue(&mut q, |i| (i.1, i.2));
        let names: Vec<&str> = q.iter().map(|i| i.0).collect();
        assert_eq!(names, ["new-old", "new-young", "cb", "stale"]);
        assert!(is_stale(Some(3), t(73), Utc::now()));
        assert!(!is_stale(Some(3), t(71), Utc::now()));
        assert!(!is_stale(None, t(10_000), Utc::now()));
    }
}
