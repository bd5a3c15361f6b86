//! Pure rules for accounts: parsing and checking the admin forms (money, hours, states, time zones) and the
//! multi-factor requirement setting.

use chrono::NaiveTime;
use serde::Serialize;

use crate::auth::Role;
use crate::error::FieldErrors;

/// An LO's availability for new leads.
pub const LO_STATUSES: [&str; 3] = ["available", "away", "offline"];

/// The fields of a submitted form, keeping repeated keys (checkbox groups) in order.
#[derive(Debug, Default, Clone)]
pub struct FormFields(pub Vec<(String, String)>);

impl FormFields {
    /// The first value of a field, trimmed, or "".
    pub fn get(&self, name: &str) -> String {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.trim().to_string()).unwrap_or_default()
    }
    /// Every non-empty value of a repeated field.
    pub fn all(&self, name: &str) -> Vec<String> {
        self.0.iter().filter(|(k, v)| k == name && !v.trim().is_empty()).map(|(_, v)| v.trim().to_string()).collect()
    }
}

/// The scopes and lifetime asked for a new API token: at least one known scope (none chosen: `leads:write`,
/// the narrowest, which is what a lead vendor needs), and 1–365 days (empty: 365).
pub fn token_request(scopes: &[String], days: &str) -> Result<(Vec<String>, i64), FieldErrors> {
    let mut e = FieldErrors::new();
    let mut chosen: Vec<String> = Vec::new();
    for s in scopes {
        if crate::auth::model::TOKEN_SCOPES.contains(&s.as_str()) {
            if !chosen.contains(s) {
                chosen.push(s.clone());
            }
        } else {
            e.add("scope", format!("unknown scope {s:?}: use leads:write, read, full or metrics"));
        }
    }
    if chosen.is_empty() {
        chosen.push("leads:write".into());
    }
    let days = match days.trim() {
        "" => crate::auth::store::TOKEN_DAYS,
        d => match d.parse::<i64>() {
            Ok(n) if (1..=crate::auth::store::TOKEN_DAYS).contains(&n) => n,
            _ => {
                e.add("days", "a token lasts 1 to 365 days");
                0
            }
        },
    };
    if e.is_empty() { Ok((chosen, days)) } else { Err(e) }
}

/// Parses a dollar amount as typed by a person ("$4,500", "4500.5") into cents (`web::money`).
pub use crate::web::money::parse as dollars_to_cents;

/// Shows cents as dollars for a form field ("4500.00"; `web::money`).
pub use crate::web::money::input as cents_to_dollars;

/// Parses "TX, ca ok" into ["TX", "CA", "OK"], reporting codes that are not US states.
pub fn parse_states(input: &str) -> Result<Vec<String>, String> {
    let mut out: Vec<String> = Vec::new();
    for code in input.split(|c: char| c == ',' || c.is_whitespace()).filter(|s| !s.is_empty()) {
        let code = code.to_uppercase();
        if !crate::web::us::is_us_state(&code) {
            return Err(format!("{code} is not a US state code."));
        }
        if !out.contains(&code) {
            out.push(code);
        }
    }
    Ok(out)
}

pub fn parse_time(input: &str) -> Option<NaiveTime> {
    NaiveTime::parse_from_str(input.trim(), "%H:%M")
        .or_else(|_| NaiveTime::parse_from_str(input.trim(), "%H:%M:%S"))
        .ok()
}

pub fn is_time_zone(name: &str) -> bool {
    name.parse::<chrono_tz::Tz>().is_ok()
}

/// A user's editable fields as submitted (strings, so a refused form re-renders exactly what was typed).
#[derive(Debug, Default, Clone, Serialize)]
pub struct UserForm {
    pub name: String,
    pub email: String,
    pub role: String,
    pub team_id: String,
    pub managed_team_ids: Vec<String>,
    pub nmls_id: String,
    pub licensed_states: String,
    pub capacity: String,
    pub status: String,
    pub work_start: String,
    pub work_end: String,
    pub work_days: Vec<i32>,
    pub timezone: String,
    pub routing_weight: String,
    pub monthly_cost: String,
    /// A manager who also takes leads (checkbox).
    pub originates: bool,
    pub version: i32,
}

impl UserForm {
    pub fn from_fields(f: &FormFields) -> Self {
        UserForm {
            name: f.get("name"),
            email: f.get("email"),
            role: f.get("role"),
            team_id: f.get("team_id"),
            managed_team_ids: f.all("managed_team_ids"),
            nmls_id: f.get("nmls_id"),
            licensed_states: f.get("licensed_states"),
            capacity: f.get("capacity"),
            status: f.get("status"),
            work_start: f.get("work_start"),
            work_end: f.get("work_end"),
            work_days: f
                .all("work_days")
                .iter()
                .filter_map(|d| d.parse().ok())
                .filter(|d| (1..=7).contains(d))
                .collect(),
            timezone: f.get("timezone"),
            routing_weight: f.get("routing_weight"),
            monthly_cost: f.get("monthly_cost"),
            originates: !f.get("originates").is_empty(),
            version: f.get("version").parse().unwrap_or(0),
        }
    }
    pub fn manages(&self, team_id: &uuid::Uuid) -> bool {
        self.managed_team_ids.iter().any(|t| *t == team_id.to_string())
    }
    pub fn works_on(&self, day: &i32) -> bool {
        self.work_days.contains(day)
    }
}

/// A checked user edit, ready for the database.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct UserEdit {
    pub name: String,
    pub email: String,
    pub role: Role,
    pub team_id: Option<uuid::Uuid>,
    pub managed_team_ids: Vec<uuid::Uuid>,
    /// A manager who also takes leads (always false for other roles).
    pub originates: bool,
    pub profile: Option<LoProfileEdit>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LoProfileEdit {
    pub nmls_id: Option<String>,
    pub licensed_states: Vec<String>,
    pub capacity: i32,
    pub status: String,
    pub work_start: NaiveTime,
    pub work_end: NaiveTime,
    pub work_days: Vec<i32>,
    pub timezone: String,
    pub routing_weight: i32,
    pub monthly_cost_cents: i64,
}

pub fn valid_email(email: &str) -> bool {
    email.len() <= 254
        && email.contains('@')
        && !email.starts_with('@')
        && !email.ends_with('@')
        && !email.contains(char::is_whitespace)
}

/// Checks an edit form, collecting every problem. The LO profile is checked only for LOs.
pub fn check_user_form(f: &UserForm) -> Result<UserEdit, FieldErrors> {
    let mut errors = FieldErrors::new();
    if f.name.is_empty() || f.name.chars().count() > 200 {
        errors.add("name", "Enter the person's name.");
    }
    if !valid_email(&f.email) {
        errors.add("email", "Enter a valid email address.");
    }
    let role = Role::parse(&f.role);
    if role.is_none() {
        errors.add("role", "Choose a role.");
    }
    let team_id = if f.team_id.is_empty() {
        None
    } else {
        match f.team_id.parse::<uuid::Uuid>() {
            Ok(t) => Some(t),
            Err(_) => {
                errors.add("team_id", "Choose a team from the list.");
                None
            }
        }
    };
    let managed: Vec<uuid::Uuid> = f.managed_team_ids.iter().filter_map(|t| t.parse().ok()).collect();
    if managed.len() != f.managed_team_ids.len() {
        errors.add("managed_team_ids", "Choose teams from the list.");
    }
    let mut profile = None;
    let originates = role == Some(Role::Manager) && f.originates;
    if role == Some(Role::Lo) || originates {
        let states = parse_states(&f.licensed_states).unwrap_or_else(|m| {
            errors.add("licensed_states", m);
            vec![]
        });
        let capacity = match f.capacity.parse::<i32>() {
            Ok(c) if (0..=10_000).contains(&c) => c,
            _ => {
                errors.add("capacity", "Capacity is a whole number of open leads between 0 and 10,000.");
                0
            }
        };
        if !LO_STATUSES.contains(&f.status.as_str()) {
            errors.add("status", "Choose available, away or offline.");
        }
        let start = parse_time(&f.work_start);
        let end = parse_time(&f.work_end);
        if start.is_none() {
            errors.add("work_start", "Enter a time like 08:00.");
        }
        if end.is_none() {
            errors.add("work_end", "Enter a time like 18:00.");
        }
        // An end before the start is a night shift that ends the next day; the same time for both is around
        // the clock (what routing's working-hours check reads them as, `routing::model::WorkHours`).
        if f.work_days.is_empty() {
            errors.add("work_days", "Choose at least one working day.");
        }
        if !is_time_zone(&f.timezone) {
            errors.add("timezone", "Enter a time zone such as America/Chicago.");
        }
        let weight = match f.routing_weight.parse::<i32>() {
            Ok(w) if (0..=100).contains(&w) => w,
            _ => {
                errors.add("routing_weight", "Routing weight is a whole number from 0 to 100.");
                0
            }
        };
        let cost = if f.monthly_cost.is_empty() { Some(0) } else { dollars_to_cents(&f.monthly_cost) };
        if cost.is_none() {
            errors.add("monthly_cost", "Enter a dollar amount such as 6500 or 6,500.00.");
        }
        let mut days = f.work_days.clone();
        days.sort_unstable();
        days.dedup();
        if errors.is_empty() {
            profile = Some(LoProfileEdit {
                nmls_id: Some(f.nmls_id.clone()).filter(|s| !s.is_empty()),
                licensed_states: states,
                capacity,
                status: f.status.clone(),
                work_start: start.unwrap_or_default(),
                work_end: end.unwrap_or_default(),
                work_days: days,
                timezone: f.timezone.clone(),
                routing_weight: weight,
                monthly_cost_cents: cost.unwrap_or(0),
            });
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let role = role.unwrap_or(Role::Lo);
    Ok(UserEdit {
        name: f.name.clone(),
        email: f.email.clone(),
        role,
        // Only LOs belong to a team; managers manage teams instead.
        team_id: if role == Role::Lo { team_id } else { None },
        managed_team_ids: if role == Role::Manager { managed } else { vec![] },
        originates,
        profile,
    })
}

/// Where an offboarded LO's open leads go: the admin's choice on the deactivate form.
#[derive(Debug, Clone)]
pub enum HandOver {
    /// Redistribute through the routing rules.
    Redistribute,
    /// To one named LO.
    ToLo(uuid::Uuid),
    /// To a team's unassigned queue.
    ToTeamQueue(uuid::Uuid),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dollars_parse_to_cents_without_floats() {
        assert_eq!(dollars_to_cents("6500"), Some(650_000));
        assert_eq!(dollars_to_cents("$6,500.5"), Some(650_050));
        assert_eq!(dollars_to_cents("0.07"), Some(7));
        assert_eq!(dollars_to_cents("19.99"), Some(1_999));
        assert_eq!(dollars_to_cents("1.234"), None);
        assert_eq!(dollars_to_cents("-5"), None);
        assert_eq!(dollars_to_cents("abc"), None);
        assert_eq!(dollars_to_cents("."), None);
        assert_eq!(dollars_to_cents("99999999999999999999"), None);
        assert_eq!(cents_to_dollars(650_050), "6500.50");
    }

    #[test]
    fn states_are_normalised_and_checked() {
        assert_eq!(parse_states("tx, CA ok,tx").unwrap(), vec!["TX", "CA", "OK"]);
        assert!(parse_states("TX, ZZ").is_err());
        assert_eq!(parse_states("").unwrap(), Vec::<String>::new());
    }

    fn lo_form() -> UserForm {
        UserForm {
            name: "Maria Lopez".into(),
            email: "maria@x.com".into(),
            role: "lo".into(),
            capacity: "40".into(),
            status: "away".into(),
            work_start: "08:30".into(),
            work_end: "17:00".into(),
            work_days: vec![5, 1, 2],
            timezone: "America/Denver".into(),
            routing_weight: "3".into(),
            monthly_cost: "7,250.00".into(),
            licensed_states: "tx nm".into(),
            ..Default::default()
        }
    }

    #[test]
    fn a_good_lo_form_becomes_an_edit() {
        let e = check_user_form(&lo_form()).unwrap();
        let p = e.profile.unwrap();
        assert_eq!(p.monthly_cost_cents, 725_000);
        assert_eq!(p.work_days, vec![1, 2, 5]);
        assert_eq!(p.licensed_states, vec!["TX", "NM"]);
        assert_eq!(p.capacity, 40);
    }

    #[test]
    fn a_bad_lo_form_reports_each_field() {
        let mut f = lo_form();
        f.capacity = "lots".into();
        f.work_end = "7 pm".into();
        f.timezone = "Mars/Olympus".into();
        f.monthly_cost = "12.345".into();
        let e = check_user_form(&f).unwrap_err();
        for field in ["capacity", "work_end", "timezone", "monthly_cost"] {
            assert!(e.get(field).is_some(), "{field}");
        }
        assert_eq!(e.0.len(), 4);
    }

    #[test]
    fn night_shifts_and_around_the_clock_are_working_hours() {
        let mut f = lo_form();
        (f.work_start, f.work_end) = ("22:00".into(), "06:00".into());
        let p = check_user_form(&f).unwrap().profile.unwrap();
        assert_eq!((p.work_start.to_string(), p.work_end.to_string()), ("22:00:00".into(), "06:00:00".into()));
        (f.work_start, f.work_end) = ("00:00".into(), "00:00".into());
        assert!(check_user_form(&f).is_ok(), "the same time for both is around the clock");
    }

    #[test]
    fn only_managers_keep_managed_teams() {
        let t = uuid::Uuid::from_u128(7).to_string();
        let mut f =
            UserForm { name: "M".into(), email: "m@x.com".into(), role: "manager".into(), ..Default::default() };
        f.managed_team_ids = vec![t.clone()];
        assert_eq!(check_user_form(&f).unwrap().managed_team_ids.len(), 1);
        f.role = "admin".into();
        assert!(check_user_form(&f).unwrap().managed_team_ids.is_empty());
    }
}
