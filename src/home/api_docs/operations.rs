//! Every `/api/v1` operation the contract documents: what it is for, what it takes and what it answers.
//! `tests/openapi.rs` compares this with the served route table, so a route added without a line here fails.

use utoipa::IntoParams;
use utoipa::openapi::path::{Parameter, ParameterIn};

/// What an operation reads from its body.
pub enum Body {
    /// A named schema of `#/components/schemas`.
    Schema(&'static str),
    /// A JSON array of a named schema.
    List(&'static str),
    /// A CSV file (`text/csv`).
    Csv,
}

/// What an operation answers on success.
pub enum Answer {
    /// A named schema of `#/components/schemas`.
    Schema(&'static str),
    /// A JSON array of a named schema.
    List(&'static str),
    /// A CSV file.
    Csv,
}

pub struct Op {
    pub method: &'static str,
    pub path: &'static str,
    pub tag: &'static str,
    pub summary: &'static str,
    pub body: Option<Body>,
    pub answers: &'static [(u16, Answer)],
    /// The query parameters it reads (a list's filters), from their `utoipa::IntoParams` type.
    pub query: Option<fn() -> Vec<Parameter>>,
}

impl Op {
    /// The same operation, reading the query parameters `T` documents.
    const fn query<T: IntoParams>(self) -> Op {
        Op { query: Some(query_params::<T>), ..self }
    }
}

/// The query parameters of `T`.
fn query_params<T: IntoParams>() -> Vec<Parameter> {
    T::into_params(|| Some(ParameterIn::Query))
}

const fn op(
    method: &'static str,
    path: &'static str,
    tag: &'static str,
    summary: &'static str,
    body: Option<Body>,
    answers: &'static [(u16, Answer)],
) -> Op {
    Op { method, path, tag, summary, body, answers, query: None }
}

use Answer::{Csv as CsvOut, List, Schema as S};
use Body::{Csv, List as Rows, Schema};

/// The tags, in the order the page shows them, with what each covers.
pub const TAGS: &[(&str, &str)] = &[
    ("leads", "The lead record and its lifecycle: intake (with idempotency), edits, stages, activities, opt-outs."),
    ("routing", "Who works a lead: assignment, its routing decisions, the availability cadence."),
    ("sources", "Lead sources and their campaigns (admins)."),
    ("partners", "Referral partners."),
    ("escalations", "Pricing exception requests and their decisions."),
    (
        "departments",
        "Escalations and case questions forwarded to underwriting, compliance, legal, executives: list, forward, answer, send back.",
    ),
    ("metrics", "Funnel, speed to lead, lost reasons, ROI, and marketing spend."),
    ("lossmit", "Loss-mitigation cases for servicing (loss-mitigation staff)."),
    ("portfolio", "Closed loans, retention opportunities, and status updates from the LOS."),
    ("locks", "Rate locks: lock, extend, relock, float down, cancel; investors; locks from the LOS."),
    ("fair-lending", "Fair-lending analysis runs (compliance officers and admins)."),
    ("loan_options", "Loan options on a lead, with their Truth in Lending figures (APR by Regulation Z, Appendix J)."),
    ("accounts", "Who the caller is."),
];

pub const OPERATIONS: &[Op] = &[
    op(
        "GET",
        "/api/v1/leads",
        "leads",
        "List leads in the caller's scope (keyset pagination: `next`).",
        None,
        &[(200, S("LeadList"))],
    )
    .query::<crate::leads::api::LeadListParams>(),
    op(
        "POST",
        "/api/v1/leads",
        "leads",
        "Create a lead, or recognise a replay or a duplicate (see the Idempotency-Key header). A new lead is \
         answered once saved and routed, or once the server's `--answer-before-routing-ms` is over (0 by \
         default: at once), its routing going on: the answer may show it unassigned; read it again for its LO.",
        Some(Schema("LeadInput")),
        &[(201, S("CreatedLead")), (200, S("LeadReplay"))],
    ),
    op(
        "GET",
        "/api/v1/leads.csv",
        "leads",
        "The leads in the caller's scope as CSV (same filters as the list).",
        None,
        &[(200, CsvOut)],
    )
    .query::<crate::leads::api::LeadListParams>(),
    op("GET", "/api/v1/leads/{id}", "leads", "One lead.", None, &[(200, S("Lead"))]),
    op(
        "PATCH",
        "/api/v1/leads/{id}",
        "leads",
        "Change a lead's fields; `version` is the one the change is based on (409 when stale, with `current` and `attempted`).",
        Some(Schema("LeadPatch")),
        &[(200, S("Lead"))],
    ),
    op(
        "POST",
        "/api/v1/leads/{id}/stage",
        "leads",
        "Move a lead to a stage (`stage`, `lost_reason` for lost, `version`).",
        Some(Schema("StageInput")),
        &[(200, S("Lead"))],
    ),
    op(
        "POST",
        "/api/v1/leads/{id}/activities",
        "leads",
        "Log a call, text, email or note on a lead.",
        Some(Schema("ActivityInput")),
        &[(201, S("LoggedActivity"))],
    ),
    op(
        "POST",
        "/api/v1/leads/{id}/opt-outs",
        "leads",
        "Record that the borrower opted out of a channel (`call`, `text`, `email`, `all`).",
        Some(Schema("OptOutInput")),
        &[(201, S("OptOutAnswer")), (200, S("OptOutAnswer"))],
    ),
    op(
        "POST",
        "/api/v1/leads/{id}/assign",
        "routing",
        "Assign a lead to a loan officer (managers, admins).",
        Some(Schema("AssignBody")),
        &[(200, S("AssignedLead"))],
    ),
    op(
        "GET",
        "/api/v1/leads/{id}/routing",
        "routing",
        "How a lead was routed: the latest decision, every decision, the assignment history.",
        None,
        &[(200, S("LeadRouting"))],
    ),
    op(
        "GET",
        "/api/v1/availability/cadence",
        "routing",
        "A loan officer's cadence tasks behind a figure of the availability board (managers, admins).",
        None,
        &[(200, S("CadenceTasks"))],
    )
    .query::<crate::routing::handlers::CadenceParams>(),
    op("GET", "/api/v1/sources", "sources", "Every lead source with its campaigns.", None, &[(200, List("Source"))]),
    op(
        "POST",
        "/api/v1/sources",
        "sources",
        "Add a lead source (admins).",
        Some(Schema("SourceInput")),
        &[(201, S("Source"))],
    ),
    op(
        "PATCH",
        "/api/v1/sources/{key}",
        "sources",
        "Rename, re-price, review or retire a source (`version` guards the change).",
        Some(Schema("SourceInput")),
        &[(200, S("Source"))],
    ),
    op(
        "PUT",
        "/api/v1/sources/{key}/campaigns/{campaign}",
        "sources",
        "Add, rename or retire a campaign under a source.",
        Some(Schema("CampaignBody")),
        &[(200, S("Source"))],
    ),
    op("GET", "/api/v1/partners", "partners", "Every referral partner.", None, &[(200, List("Partner"))]),
    op(
        "POST",
        "/api/v1/partners",
        "partners",
        "Add a referral partner.",
        Some(Schema("PartnerInput")),
        &[(201, S("Partner"))],
    ),
    op(
        "GET",
        "/api/v1/escalations",
        "escalations",
        "Pricing exception requests in the caller's scope.",
        None,
        &[(200, S("EscalationList"))],
    )
    .query::<crate::escalations::handlers::QueueQuery>(),
    op(
        "POST",
        "/api/v1/escalations",
        "escalations",
        "Request a pricing exception on a lead.",
        Some(Schema("EscalationInput")),
        &[(201, S("Escalation"))],
    ),
    op(
        "GET",
        "/api/v1/escalations/{id}",
        "escalations",
        "One request with its events.",
        None,
        &[(200, S("EscalationDetail"))],
    ),
    op(
        "POST",
        "/api/v1/escalations/{id}/decision",
        "escalations",
        "Approve, counter or decline a request (its approver).",
        Some(Schema("EscalationDecision")),
        &[(200, S("Escalation"))],
    ),
    op(
        "GET",
        "/api/v1/metrics/funnel",
        "metrics",
        "The funnel: leads reaching each stage in a period.",
        None,
        &[(200, S("FunnelAnswer"))],
    )
    .query::<crate::metrics::dashboard::Params>(),
    op(
        "GET",
        "/api/v1/metrics/speed-to-lead",
        "metrics",
        "Time from a lead's arrival to its first call.",
        None,
        &[(200, S("SpeedAnswer"))],
    )
    .query::<crate::metrics::dashboard::Params>(),
    op("GET", "/api/v1/metrics/lost-reasons", "metrics", "Why leads were lost.", None, &[(200, S("LostAnswer"))])
        .query::<crate::metrics::dashboard::Params>(),
    op(
        "GET",
        "/api/v1/metrics/roi",
        "metrics",
        "Return on lead spend by source and campaign.",
        None,
        &[(200, S("RoiAnswer"))],
    )
    .query::<crate::metrics::dashboard::Params>(),
    op(
        "GET",
        "/api/v1/spend",
        "metrics",
        "Marketing spend per source, campaign and month.",
        None,
        &[(200, S("SpendList"))],
    ),
    op(
        "PUT",
        "/api/v1/spend",
        "metrics",
        "Set one month's spend for a source (and campaign).",
        Some(Schema("SpendInput")),
        &[(200, S("SpendSaved"))],
    ),
    op(
        "POST",
        "/api/v1/spend/import",
        "metrics",
        "Import spend from a CSV file.",
        Some(Csv),
        &[(200, S("ImportReport")), (422, S("ImportReport"))],
    ),
    op(
        "GET",
        "/api/v1/lossmit/cases",
        "lossmit",
        "The loss-mitigation queue in the caller's scope.",
        None,
        &[(200, S("CaseQueue"))],
    )
    .query::<crate::lossmit::handlers::CaseQueueParams>(),
    op(
        "POST",
        "/api/v1/lossmit/cases",
        "lossmit",
        "Open a loss-mitigation case (supervisors, admins).",
        Some(Schema("CaseInput")),
        &[(201, S("Case"))],
    ),
    op("GET", "/api/v1/lossmit/cases/{id}", "lossmit", "One case with its clocks.", None, &[(200, S("Case"))]),
    op(
        "POST",
        "/api/v1/lossmit/cases/{id}/application",
        "lossmit",
        "Record a loss-mitigation application.",
        Some(Schema("ApplicationInput")),
        &[(201, S("Case"))],
    ),
    op(
        "POST",
        "/api/v1/lossmit/cases/{id}/foreclosure-steps",
        "lossmit",
        "Record a foreclosure step.",
        Some(Schema("StepInput")),
        &[(201, S("Case"))],
    ),
    op(
        "POST",
        "/api/v1/lossmit/cases/{id}/evaluation",
        "lossmit",
        "Record the evaluation of a complete application.",
        Some(Schema("EvaluationInput")),
        &[(201, S("Case"))],
    ),
    op(
        "POST",
        "/api/v1/lossmit/cases/{id}/appeal",
        "lossmit",
        "Record the borrower's appeal.",
        Some(Schema("AppealInput")),
        &[(201, S("Case"))],
    ),
    op(
        "POST",
        "/api/v1/lossmit/cases/{id}/reinstatement",
        "lossmit",
        "Record that the borrower was brought current.",
        Some(Schema("ReinstatementInput")),
        &[(201, S("Case"))],
    ),
    op(
        "GET",
        "/api/v1/lossmit/cases/{id}/borrower-requests",
        "lossmit",
        "The borrower's notices of error and requests for information on a case, with their clocks.",
        None,
        &[(200, List("BorrowerRequestView"))],
    ),
    op(
        "POST",
        "/api/v1/lossmit/cases/{id}/borrower-requests",
        "lossmit",
        "Record a borrower request.",
        Some(Schema("BorrowerRequestInput")),
        &[(201, List("BorrowerRequestView"))],
    ),
    op(
        "POST",
        "/api/v1/lossmit/cases/{id}/borrower-requests/progress",
        "lossmit",
        "Acknowledge, extend or answer a borrower request.",
        Some(Schema("BorrowerRequestProgress")),
        &[(200, List("BorrowerRequestView"))],
    ),
    op(
        "GET",
        "/api/v1/portfolio/loans",
        "portfolio",
        "Closed loans in the caller's scope.",
        None,
        &[(200, S("LoanList"))],
    )
    .query::<crate::portfolio::api::LoanListParams>(),
    op(
        "GET",
        "/api/v1/portfolio/opportunities",
        "portfolio",
        "Retention opportunities in the caller's scope.",
        None,
        &[(200, S("OpportunityList"))],
    )
    .query::<crate::portfolio::api::OpportunityParams>(),
    op(
        "POST",
        "/api/v1/portfolio/opportunities/{id}",
        "portfolio",
        "Change an opportunity's status.",
        Some(Schema("OpportunityStatus")),
        &[(200, S("OpportunityStatusChanged"))],
    ),
    op(
        "POST",
        "/api/v1/los/status",
        "portfolio",
        "A loan's status from the loan origination system (admins, intake).",
        Some(Schema("LosStatusBody")),
        &[(200, S("LosOutcome"))],
    ),
    op(
        "GET",
        "/api/v1/leads/{id}/scenarios",
        "loan_options",
        "A lead's live loan options (in the caller's scope), each at its current version with its figures.",
        None,
        &[(200, S("ScenarioList"))],
    ),
    op(
        "POST",
        "/api/v1/leads/{id}/scenarios",
        "loan_options",
        "Add a loan option to a lead (at most four live); the answer carries its figures: payment, cash to close, amount financed, finance charge, APR, horizons, ARM paths.",
        Some(Schema("ScenarioBody")),
        &[(201, S("ScenarioJson"))],
    ),
    op(
        "GET",
        "/api/v1/scenarios/{id}",
        "loan_options",
        "One loan option at its current version, with its closing costs and figures.",
        None,
        &[(200, S("ScenarioJson"))],
    ),
    op(
        "GET",
        "/api/v1/locks",
        "locks",
        "Rate locks on loans in the caller's scope, soonest expiry first (keyset pagination: `next`).",
        None,
        &[(200, S("LockList"))],
    )
    .query::<crate::locks::api::LockListParams>(),
    op(
        "POST",
        "/api/v1/locks",
        "locks",
        "Lock a loan (its LO, its team's managers, admins); 409 when the loan already has a live lock.",
        Some(Schema("NewLockBody")),
        &[(201, S("LockRow"))],
    ),
    op(
        "POST",
        "/api/v1/fair-lending/runs",
        "fair-lending",
        "Run the fair-lending analysis over a period and save it (compliance officers and admins; audited).",
        Some(Schema("RunInput")),
        &[(201, S("RunJson"))],
    ),
    op(
        "GET",
        "/api/v1/fair-lending/runs/{id}",
        "fair-lending",
        "A saved fair-lending run: inputs, method version, comparisons and the requests analysed (audited).",
        None,
        &[(200, S("RunJson"))],
    ),
    op("GET", "/api/v1/locks/{id}", "locks", "One lock with its history.", None, &[(200, S("LockDetail"))]),
    op(
        "POST",
        "/api/v1/locks/{id}/extend",
        "locks",
        "Extend a live lock by one of its investor's options (managers, admins; LOs ask through an escalation).",
        Some(Schema("ExtendBody")),
        &[(200, S("LockRow"))],
    ),
    op(
        "POST",
        "/api/v1/locks/{id}/relock",
        "locks",
        "Relock an expired or cancelled lock: the worse of its price and today's, plus the relock fee.",
        Some(Schema("RelockBody")),
        &[(201, S("LockRow"))],
    ),
    op(
        "POST",
        "/api/v1/locks/{id}/float-down",
        "locks",
        "Float a live lock down to the market rate (when better by the investor's minimum), for the fee.",
        Some(Schema("FloatDownBody")),
        &[(200, S("LockRow"))],
    ),
    op(
        "POST",
        "/api/v1/locks/{id}/cancel",
        "locks",
        "Cancel a live lock.",
        Some(Schema("CancelBody")),
        &[(200, S("LockRow"))],
    ),
    op(
        "GET",
        "/api/v1/lock-investors",
        "locks",
        "The investors with their terms and extension schedules (`?active=true`: active ones only).",
        None,
        &[(200, List("InvestorRow"))],
    ),
    op(
        "POST",
        "/api/v1/lock-investors",
        "locks",
        "Add an investor, or change the one of that name (admins).",
        Some(Schema("InvestorInput")),
        &[(201, S("InvestorRow")), (200, S("InvestorRow"))],
    ),
    op(
        "POST",
        "/api/v1/los/locks",
        "locks",
        "Locks from the LOS, a JSON array of rows (admins, intake); idempotent by loan and LOS lock id. All rows or none unless `?skip_bad=true`.",
        Some(Rows("LosLockInput")),
        &[(200, S("LockImportReport")), (422, S("LosLocksRefused"))],
    ),
    op("GET", "/api/v1/departments", "departments", "Every department (what a forward names).", None, &[(200, List("DepartmentRow"))]),
    op(
        "GET",
        "/api/v1/departments/items",
        "departments",
        "Items forwarded to the caller's departments and the ones the caller forwarded (admins: all); open ones first, soonest due first.",
        None,
        &[(200, S("ItemList"))],
    )
    .query::<crate::departments::api::ItemListParams>(),
    op(
        "POST",
        "/api/v1/departments/items",
        "departments",
        "Forward an open escalation (managers, admins) or a loss-mitigation case question (supervisors, admins) to a department; 409 while it already waits on one. A complaint forwarded for the first time carries its regulatory clock: complaint_type and received_on (422 without them).",
        Some(Schema("ForwardBody")),
        &[(201, S("ItemRow"))],
    ),
    op(
        "GET",
        "/api/v1/departments/items/{id}",
        "departments",
        "One item with its hops and, for a complaint, its regulatory clock with each deadline's status (its department's members, its forwarder, admins).",
        None,
        &[(200, S("ItemDetail"))],
    ),
    op(
        "POST",
        "/api/v1/departments/items/{id}/answer",
        "departments",
        "Answer an open item with one of its kind's decisions (the department's members); 409 when no longer open or stale.",
        Some(Schema("AnswerBody")),
        &[(200, S("ItemRow"))],
    ),
    op(
        "POST",
        "/api/v1/departments/items/{id}/return",
        "departments",
        "Send an open item back to the manager, with why (the department's members).",
        Some(Schema("ReturnBody")),
        &[(200, S("ItemRow"))],
    ),
    op(
        "POST",
        "/api/v1/departments/items/{id}/clock",
        "departments",
        "Record a step on a complaint's regulatory clock (acknowledged, responded, extension_noticed, final_response; whoever may see the item); 422 for a step, date or extension the rule does not allow, 409 when already recorded or stale.",
        Some(Schema("ClockStepBody")),
        &[(200, S("ComplaintClock"))],
    ),
    op("GET", "/api/v1/me", "accounts", "Who the token (or session) acts as.", None, &[(200, S("Me"))]),
];
