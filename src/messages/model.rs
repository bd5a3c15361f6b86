//! What a message says and who may get it: the notification kinds people choose email for, the borrower
//! templates and their merge fields, and the consent decision. Pure: no database, unit-tested below.

use std::collections::BTreeMap;

/// A bell notification kind people can also get by email, its label on the preferences page and whether it
/// is emailed when the person has not chosen.
pub struct StaffKind {
    pub kind: &'static str,
    pub label: &'static str,
    pub email_by_default: bool,
}

/// Every notification kind the bell carries, in the order the preferences page lists them.
pub const STAFF_KINDS: &[StaffKind] = &[
    StaffKind { kind: "lead_assigned", label: "A new lead is assigned to me", email_by_default: true },
    StaffKind { kind: "lead_offered", label: "A lead is up for grabs in my pool", email_by_default: true },
    StaffKind {
        kind: "sla_warning",
        label: "Speed-to-lead: a lead of mine is close to its call deadline",
        email_by_default: true,
    },
    StaffKind { kind: "lead_reassigned", label: "A lead of mine was reassigned", email_by_default: true },
    StaffKind {
        kind: "escalation.decided",
        label: "My pricing exception or request was decided",
        email_by_default: true,
    },
    StaffKind { kind: "escalation.requested", label: "A request waits for my approval", email_by_default: true },
    StaffKind {
        kind: "escalation.sla_breach",
        label: "A request is waiting past its SLA (managers)",
        email_by_default: true,
    },
    StaffKind { kind: "sla_escalated", label: "Speed-to-lead missed on my team (managers)", email_by_default: true },
    StaffKind { kind: "lead_unassigned", label: "A lead found no LO (managers)", email_by_default: true },
    StaffKind {
        kind: "manager.digest",
        label: "Each morning at 7:00: yesterday's funnel, misses, stale leads and waiting requests (managers)",
        email_by_default: true,
    },
    StaffKind { kind: "department.forwarded", label: "An item is forwarded to my department", email_by_default: true },
    StaffKind {
        kind: "department.answer",
        label: "A department answered what I forwarded or asked",
        email_by_default: true,
    },
    StaffKind {
        kind: "department.sla_breach",
        label: "A forwarded item is past its response time (department leads, forwarding managers)",
        email_by_default: true,
    },
    StaffKind {
        kind: "departments.executive_digest",
        label: "Each Monday at 7:00: open executive escalations and the week's SLA breaches (executives)",
        email_by_default: true,
    },
    StaffKind { kind: "lossmit.assigned", label: "A loss-mitigation case is assigned to me", email_by_default: true },
    StaffKind {
        kind: "lossmit.digest",
        label: "Loss-mitigation deadlines due within two days or breached (each morning)",
        email_by_default: true,
    },
    StaffKind { kind: "coaching.created", label: "A coaching review was opened with me", email_by_default: false },
    StaffKind { kind: "portfolio.opportunities", label: "New past-client opportunities", email_by_default: false },
    StaffKind { kind: "portfolio.team_queue", label: "Past-client opportunities for my team", email_by_default: false },
];

/// Whether `kind` goes by email to a person whose own choice (if any) is `chosen`. Kinds not listed (new ones)
/// stay in the bell only until someone lists them.
pub fn emails(kind: &str, chosen: Option<bool>) -> bool {
    match STAFF_KINDS.iter().find(|k| k.kind == kind) {
        Some(k) => chosen.unwrap_or(k.email_by_default),
        None => false,
    }
}

/// A borrower template: its key, name, and the merge fields it may use.
pub struct BorrowerTemplate {
    pub kind: &'static str,
    pub label: &'static str,
    pub fields: &'static [&'static str],
    /// Whether it may also go as a text message (to a lead who consented to texts).
    pub texts: bool,
    /// Whether people send it to many leads at once (a bulk send from the lead list).
    pub bulk: bool,
}

/// The longest text an admin may write: two 160-character segments, less the opt-out line the sender adds.
pub const TEXT_MAX_CHARS: usize = 280;

/// What closes every text message (the CTIA's and carriers' rule: say how to stop).
pub const TEXT_STOP_LINE: &str = "Reply STOP to opt out.";

/// A text as it goes out: the rendered text and the opt-out line.
pub fn text_with_stop(text: &str) -> String {
    let text = text.trim();
    if text.contains(TEXT_STOP_LINE) { text.to_string() } else { format!("{text} {TEXT_STOP_LINE}") }
}

const LEAD_FIELDS: &[&str] = &["first_name", "last_name", "lo_name", "lo_email", "lo_nmls", "lo_signature"];

pub const TEMPLATES: &[BorrowerTemplate] = &[
    BorrowerTemplate {
        kind: "first_touch",
        label: "First touch after a lead arrives",
        fields: LEAD_FIELDS,
        texts: true,
        bulk: false,
    },
    BorrowerTemplate {
        kind: "missed_call",
        label: "Missed-call follow-up",
        fields: LEAD_FIELDS,
        texts: true,
        bulk: false,
    },
    BorrowerTemplate {
        kind: "check_in",
        label: "Check-in with leads gone quiet (bulk send)",
        fields: LEAD_FIELDS,
        texts: true,
        bulk: true,
    },
    BorrowerTemplate {
        kind: "rate_watch_offer",
        label: "Rate-watch refinance offer",
        fields: &[
            "first_name",
            "last_name",
            "lo_name",
            "lo_email",
            "lo_nmls",
            "lo_signature",
            "current_rate",
            "market_rate",
            "monthly_savings",
        ],
        texts: true,
        bulk: false,
    },
    BorrowerTemplate {
        kind: "lossmit_ack",
        label: "Loss-mitigation application acknowledgment",
        fields: &["first_name", "last_name", "received_on", "servicer_contact"],
        texts: false,
        bulk: false,
    },
];

pub fn template(kind: &str) -> Option<&'static BorrowerTemplate> {
    TEMPLATES.iter().find(|t| t.kind == kind)
}

/// The `{{field}}` names a template text uses, in order of first use.
pub fn fields_used(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else { break };
        let name = after[..end].trim().to_string();
        if !out.contains(&name) {
            out.push(name);
        }
        rest = &after[end + 2..];
    }
    out
}

/// The merge fields a template text uses that its kind does not offer (an admin's typo), for the form error.
pub fn unknown_fields(kind: &str, text: &str) -> Vec<String> {
    let allowed = template(kind).map(|t| t.fields).unwrap_or(&[]);
    fields_used(text).into_iter().filter(|f| !allowed.contains(&f.as_str())).collect()
}

/// Fills a template's merge fields; a field without a value becomes empty (never the raw `{{name}}`).
pub fn render(text: &str, values: &BTreeMap<&str, String>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            out.push_str(&rest[start..]);
            return out;
        };
        if let Some(v) = values.get(after[..end].trim()) {
            out.push_str(v);
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    out
}

/// The LO's signature under a borrower message: name, NMLS id (required on mortgage solicitations) and email.
pub fn signature(name: &str, nmls: Option<&str>, email: &str) -> String {
    let mut s = name.to_string();
    if let Some(n) = nmls.filter(|n| !n.trim().is_empty()) {
        s.push_str(&format!("\nNMLS #{}", n.trim()));
    }
    s.push_str(&format!("\n{email}"));
    s
}

/// What stands between a borrower and an email, checked when the message is written and again when it is sent.
#[derive(Debug, Default, Clone)]
pub struct BorrowerFacts {
    pub email: Option<String>,
    /// Channels the borrower opted out of (`email`, `all`, ...).
    pub opted_out: Vec<String>,
    /// The lender's postal address (CAN-SPAM requires it in every commercial email).
    pub postal_address: String,
}

/// Why an email to this borrower may not go out, or None when it may.
pub fn borrower_block(f: &BorrowerFacts) -> Option<&'static str> {
    if f.opted_out.iter().any(|c| c == "email" || c == "all") {
        Some("the borrower opted out of email")
    } else if f.email.as_deref().is_none_or(|e| !e.contains('@')) {
        Some("the lead has no email address")
    } else if f.postal_address.trim().is_empty() {
        Some("the lender's postal address is not set (Messages → Templates); CAN-SPAM requires it")
    } else {
        None
    }
}

/// The footer every borrower email carries: the lender's postal address and the unsubscribe link.
pub fn borrower_footer(postal_address: &str, unsubscribe_url: &str) -> String {
    format!(
        "\n\n--\n{}\n\nTo stop receiving these emails, open {unsubscribe_url} (one click, no sign-in).",
        postal_address.trim()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_fields_fill_and_unknown_ones_are_named() {
        let mut v = BTreeMap::new();
        v.insert("first_name", "Ann".to_string());
        assert_eq!(render("Hi {{first_name}}, {{ lo_name }}!", &v), "Hi Ann, !");
        assert_eq!(render("unclosed {{first_name", &v), "unclosed {{first_name");
        assert_eq!(unknown_fields("first_touch", "{{first_name}} {{rate}} {{lo_name}}"), vec!["rate".to_string()]);
        assert!(unknown_fields("rate_watch_offer", "{{monthly_savings}}").is_empty());
    }

    #[test]
    fn opt_outs_and_missing_facts_block_borrower_email() {
        let ok =
            BorrowerFacts { email: Some("a@b.test".into()), opted_out: vec![], postal_address: "1 Main St".into() };
        assert_eq!(borrower_block(&ok), None);
        for channel in ["email", "all"] {
            let f = BorrowerFacts { opted_out: vec![channel.into()], ..ok.clone() };
            assert!(borrower_block(&f).is_some(), "{channel}");
        }
        let call_only = BorrowerFacts { opted_out: vec!["call".into()], ..ok.clone() };
        assert_eq!(borrower_block(&call_only), None, "a do-not-call borrower may still get email");
        assert!(borrower_block(&BorrowerFacts { email: None, ..ok.clone() }).is_some());
        assert!(borrower_block(&BorrowerFacts { postal_address: " ".into(), ..ok }).is_some());
    }

    #[test]
    fn every_text_says_how_to_stop_once() {
        assert_eq!(text_with_stop("Hi Ann. "), "Hi Ann. Reply STOP to opt out.");
        assert_eq!(text_with_stop("Hi. Reply STOP to opt out."), "Hi. Reply STOP to opt out.");
    }

    #[test]
    fn preferences_default_per_kind() {
        assert!(emails("lead_assigned", None));
        assert!(!emails("lead_assigned", Some(false)));
        assert!(emails("lossmit.digest", None));
        assert!(!emails("coaching.created", None));
        assert!(!emails("something.new", Some(true)));
    }
}
