//! Case vocabulary (investors, stages, resolutions, documents, hardships) and the pure rules of casework:
//! validation of a new case, arrears, the document checklist, money parsing.

use chrono::{Datelike, Months, NaiveDate};
use serde::{Deserialize, Serialize};

use crate::error::FieldErrors;

macro_rules! vocabulary {
    ($name:ident { $($variant:ident => $key:literal, $label:literal;)+ }) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($variant),+ }
        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            pub fn as_str(self) -> &'static str { match self { $($name::$variant => $key),+ } }
            pub fn label(self) -> &'static str { match self { $($name::$variant => $label),+ } }
            pub fn parse(s: &str) -> Option<$name> { Self::ALL.iter().copied().find(|x| x.as_str() == s) }
        }
    };
}

vocabulary!(Investor {
    FannieMae => "fannie_mae", "Fannie Mae";
    FreddieMac => "freddie_mac", "Freddie Mac";
    Fha => "fha", "FHA";
    Va => "va", "VA";
    Usda => "usda", "USDA";
    Portfolio => "portfolio", "Portfolio";
});

vocabulary!(Stage {
    EarlyIntervention => "early_intervention", "Early intervention";
    Application => "application", "Application";
    Evaluation => "evaluation", "Evaluation";
    Offer => "offer", "Offer";
    TrialPlan => "trial_plan", "Trial / plan";
    Resolved => "resolved", "Resolved";
});

vocabulary!(Resolution {
    Cured => "cured", "Cured";
    Modified => "modified", "Modified";
    ShortSale => "short_sale", "Short sale";
    DeedInLieu => "deed_in_lieu", "Deed-in-lieu";
    Foreclosure => "foreclosure", "Foreclosure";
    PaidOff => "paid_off", "Paid off";
});

vocabulary!(Document {
    AssistanceForm => "assistance_form", "Borrower assistance form";
    Income => "income", "Proof of income (pay stubs / benefit letters)";
    TaxReturn => "tax_return", "Most recent tax return or IRS Form 4506-C";
    BankStatements => "bank_statements", "Two most recent bank statements";
    HardshipLetter => "hardship_letter", "Hardship letter";
    Other => "other", "Other document";
});

/// The documents a complete application needs (the servicer's checklist).
pub const REQUIRED_DOCUMENTS: [Document; 5] = [
    Document::AssistanceForm,
    Document::Income,
    Document::TaxReturn,
    Document::BankStatements,
    Document::HardshipLetter,
];

vocabulary!(LossMitOption {
    RepaymentPlan => "repayment_plan", "Repayment plan";
    Forbearance => "forbearance", "Forbearance";
    Modification => "modification", "Modification";
    ShortSale => "short_sale", "Short sale";
    DeedInLieu => "deed_in_lieu", "Deed-in-lieu";
    InvestorProgram => "investor_program", "Investor program";
});

impl LossMitOption {
    /// The options every evaluation decides (1024.41(c)(1): all options available to the borrower); the
    /// investor's own programs are decided by name beside them.
    pub const STANDARD: [LossMitOption; 5] = [
        LossMitOption::Modification,
        LossMitOption::Forbearance,
        LossMitOption::RepaymentPlan,
        LossMitOption::ShortSale,
        LossMitOption::DeedInLieu,
    ];
}

vocabulary!(Hardship {
    Unemployment => "unemployment", "Unemployment";
    ReducedIncome => "reduced_income", "Reduced income";
    Illness => "illness", "Illness or disability";
    Death => "death", "Death of a borrower or earner";
    Divorce => "divorce", "Divorce or separation";
    Disaster => "disaster", "Disaster";
    IncreasedExpenses => "increased_expenses", "Increased housing expenses";
    Other => "other", "Other";
});

vocabulary!(ContactChannel {
    Phone => "phone", "Phone";
    Email => "email", "Email";
    Letter => "letter", "Letter";
    Text => "text", "Text message";
    InPerson => "in_person", "In person";
});

vocabulary!(NoticeKind {
    EarlyIntervention => "early_intervention", "Early-intervention written notice (1024.39(b))";
    Acknowledgment => "acknowledgment", "Application acknowledgment (1024.41(b)(2))";
    CompleteApplication => "complete_application", "Notice that the application is complete (1024.41(c)(3))";
    Decision => "decision", "Evaluation decision (1024.41(c)(1))";
    AppealDecision => "appeal_decision", "Appeal decision (1024.41(h))";
    Other => "other", "Other notice";
});

/// Documents still missing from the checklist, given those received.
pub fn missing_documents(received: &[Document]) -> Vec<Document> {
    REQUIRED_DOCUMENTS.into_iter().filter(|d| !received.contains(d)).collect()
}

/// Number of monthly payments due and unpaid on `today`: the first unpaid due date and each monthly due date
/// after it, up to and including today.
pub fn payments_past_due(first_unpaid_due_date: NaiveDate, today: NaiveDate) -> i64 {
    if today < first_unpaid_due_date {
        return 0;
    }
    let months = (today.year() - first_unpaid_due_date.year()) * 12 + today.month() as i32
        - first_unpaid_due_date.month() as i32;
    let mut n = i64::from(months) + 1;
    // The due date of this month may not have come yet (or, for the 29th–31st, is clamped to month end).
    let last_due = first_unpaid_due_date.checked_add_months(Months::new(months.max(0) as u32));
    if last_due.is_some_and(|d| d > today) {
        n -= 1;
    }
    n.max(0)
}

/// Arrears: every past-due payment of principal, interest and escrow.
pub fn arrears_cents(first_unpaid_due_date: NaiveDate, today: NaiveDate, pi_cents: i64, escrow_cents: i64) -> i64 {
    payments_past_due(first_unpaid_due_date, today) * (pi_cents + escrow_cents)
}

/// The largest amount accepted anywhere ($1 billion), so sums of amounts can never overflow.
pub const MAX_MONEY_CENTS: i64 = 100_000_000_000;

/// Dates outside 1970–2100 are typing mistakes (and would overflow date arithmetic at the extremes).
pub fn plausible_date(d: NaiveDate) -> bool {
    (1970..=2100).contains(&d.year())
}

/// Parses dollars typed into a form ("1,234.56", "$1234", "1234.5") into cents, at most MAX_MONEY_CENTS.
pub fn parse_money(s: &str) -> Option<i64> {
    crate::web::money::parse(s).filter(|c| *c <= MAX_MONEY_CENTS)
}

/// Cents as a plain dollar amount for form inputs ("1234.56"; `web::money`).
pub use crate::web::money::input as cents_input;

/// A new case, as the API and the form submit it.
#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[schema(as = CaseInput)]
pub struct NewCase {
    pub loan_number: String,
    pub borrower_name: String,
    #[serde(default)]
    pub co_borrower_name: String,
    #[serde(default)]
    pub borrower_phone: String,
    #[serde(default)]
    pub borrower_email: String,
    #[serde(default)]
    pub property_address: String,
    pub property_state: String,
    pub investor: String,
    pub upb_cents: i64,
    pub note_rate: f64,
    pub remaining_term_months: i32,
    pub monthly_pi_cents: i64,
    #[serde(default)]
    pub monthly_escrow_cents: i64,
    pub first_unpaid_due_date: NaiveDate,
    #[serde(default)]
    pub sale_date: Option<NaiveDate>,
    #[serde(default)]
    pub specialist_email: Option<String>,
}

impl NewCase {
    /// Trims and upper-cases what should be, then checks every field.
    pub fn normalise_and_validate(&mut self) -> FieldErrors {
        self.loan_number = self.loan_number.trim().to_string();
        self.borrower_name = self.borrower_name.trim().to_string();
        self.property_state = self.property_state.trim().to_uppercase();
        self.specialist_email = self.specialist_email.take().map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
        let mut e = FieldErrors::new();
        if self.loan_number.is_empty() || self.loan_number.len() > 40 {
            e.add("loan_number", "Enter the loan number (up to 40 characters).");
        }
        if self.borrower_name.is_empty() || self.borrower_name.len() > 200 {
            e.add("borrower_name", "Enter the borrower's name.");
        }
        if self.property_state.len() != 2 || !self.property_state.chars().all(|c| c.is_ascii_uppercase()) {
            e.add("property_state", "Use the two-letter state code.");
        }
        if Investor::parse(&self.investor).is_none() {
            e.add("investor", "Choose the investor or insurer.");
        }
        if self.upb_cents <= 0 || self.upb_cents > MAX_MONEY_CENTS {
            e.add("upb_cents", "The unpaid principal balance must be positive (and under $1 billion).");
        }
        if !(0.0..30.0).contains(&self.note_rate) || !self.note_rate.is_finite() {
            e.add("note_rate", "The note rate is a percent between 0 and 30.");
        }
        if !(1..=600).contains(&self.remaining_term_months) {
            e.add("remaining_term_months", "The remaining term is 1 to 600 months.");
        }
        if self.monthly_pi_cents <= 0 || self.monthly_pi_cents > MAX_MONEY_CENTS {
            e.add("monthly_pi_cents", "The monthly P&I must be positive.");
        }
        if !(0..=MAX_MONEY_CENTS).contains(&self.monthly_escrow_cents) {
            e.add("monthly_escrow_cents", "Escrow cannot be negative.");
        }
        if !plausible_date(self.first_unpaid_due_date) {
            e.add("first_unpaid_due_date", "Enter a due date between 1970 and 2100.");
        }
        if let Some(s) = self.sale_date {
            if !plausible_date(s) {
                e.add("sale_date", "Enter a sale date between 1970 and 2100.");
            } else if s <= self.first_unpaid_due_date {
                e.add("sale_date", "A sale date must come after the first unpaid due date.");
            }
        }
        e
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn payments_past_due_counts_due_dates_up_to_today() {
        assert_eq!(payments_past_due(d(2026, 3, 1), d(2026, 2, 28)), 0);
        assert_eq!(payments_past_due(d(2026, 3, 1), d(2026, 3, 1)), 1);
        assert_eq!(payments_past_due(d(2026, 3, 1), d(2026, 3, 31)), 1);
        assert_eq!(payments_past_due(d(2026, 3, 1), d(2026, 4, 1)), 2);
        // 1 Mar .. 1 Jun: Mar, Apr, May, Jun.
        assert_eq!(payments_past_due(d(2026, 3, 1), d(2026, 6, 29)), 4);
        // Due on the 15th: on 14 May only Mar 15 and Apr 15 have come.
        assert_eq!(payments_past_due(d(2026, 3, 15), d(2026, 5, 14)), 2);
        // 4 payments of $1,500.00 + $400.00 escrow = $7,600.00.
        assert_eq!(arrears_cents(d(2026, 3, 1), d(2026, 6, 29), 150_000, 40_000), 760_000);
    }

    #[test]
    fn money_parsing() {
        assert_eq!(parse_money("1,234.56"), Some(123_456));
        assert_eq!(parse_money("$1234"), Some(123_400));
        assert_eq!(parse_money("12.5"), Some(1_250));
        assert_eq!(parse_money(".05"), Some(5));
        assert_eq!(parse_money("-3"), None);
        assert_eq!(parse_money("1.234"), None);
        assert_eq!(parse_money("abc"), None);
        assert_eq!(parse_money(""), None);
        assert_eq!(parse_money("1000000000"), Some(MAX_MONEY_CENTS));
        assert_eq!(parse_money("1000000000.01"), None);
        assert_eq!(parse_money("99999999999999999999"), None);
        assert_eq!(cents_input(123_456), "1234.56");
    }

    #[test]
    fn checklist_lists_missing_documents() {
        let missing = missing_documents(&[Document::AssistanceForm, Document::Income, Document::Other]);
        assert_eq!(missing, vec![Document::TaxReturn, Document::BankStatements, Document::HardshipLetter]);
        assert!(missing_documents(&REQUIRED_DOCUMENTS).is_empty());
    }

    #[test]
    fn new_case_validation() {
        let mut c = NewCase {
            loan_number: " 100 ".into(),
            borrower_name: "A".into(),
            co_borrower_name: String::new(),
            borrower_phone: String::new(),
            borrower_email: String::new(),
            property_address: String::new(),
            property_state: "tx".into(),
            investor: "fannie_mae".into(),
            upb_cents: 1,
            note_rate: 6.5,
            remaining_term_months: 300,
            monthly_pi_cents: 1,
            monthly_escrow_cents: 0,
            first_unpaid_due_date: d(2026, 3, 1),
            sale_date: None,
            specialist_email: Some(" ".into()),
        };
        assert!(c.normalise_and_validate().is_empty());
        assert_eq!(
            (c.loan_number.as_str(), c.property_state.as_str(), c.specialist_email.clone()),
            ("100", "TX", None)
        );
        c.investor = "hud".into();
        c.sale_date = Some(d(2026, 2, 1));
        let e = c.normalise_and_validate();
        assert!(e.get("investor").is_some() && e.get("sale_date").is_some());
    }
}
