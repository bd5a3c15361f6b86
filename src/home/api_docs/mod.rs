//! The published API contract (issue 23): an OpenAPI 3.1 document of every `/api/v1` operation, built from the
//! code's own types (`utoipa::ToSchema` on the handlers' request and answer types, the error body of
//! `AppError`, the token scope rule of `TokenGrant::allows`), served at `GET /api/v1/openapi.json`, and the
//! same document as a page at `GET /api/docs`. Both are public: a contract is read before anyone has a token.

mod operations;
mod page;

use std::sync::LazyLock;

use axum::Json;
use axum::http::Method;
use utoipa::OpenApi as _;
use utoipa::openapi::content::ContentBuilder;
use utoipa::openapi::path::{HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::response::{ResponseBuilder, Responses};
use utoipa::openapi::schema::{AdditionalProperties, ArrayBuilder, ObjectBuilder, Schema, SchemaType, Type};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityRequirement, SecurityScheme};
use utoipa::openapi::tag::TagBuilder;
use utoipa::openapi::{OpenApi, Paths, Ref, RefOr, Required};

use operations::{Answer, Body, Op};
pub use operations::{OPERATIONS, TAGS};

use crate::auth::model::{TOKEN_SCOPES, TokenGrant};
use crate::web::Routes;

pub fn router() -> Routes {
    Routes::new().public("/api/v1/openapi.json", &["GET"], axum::routing::get(document)).public(
        "/api/docs",
        &["GET"],
        axum::routing::get(page::page),
    )
}

/// `GET /api/v1/openapi.json`
async fn document() -> Json<serde_json::Value> {
    Json(DOCUMENT.clone())
}

/// The document, built once.
static DOCUMENT: LazyLock<serde_json::Value> =
    LazyLock::new(|| serde_json::to_value(openapi()).expect("the OpenAPI document serialises"));

#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "Loanfloor API",
        version = "1",
        description = "The JSON API for integrations: lead vendors, the LOS, reporting. Every call is made with an API \
token (`Authorization: Bearer <token>`, issued on the account page or with `loanfloor token add`). A token acts as \
its person, inside that person's role and scope (what they may see and change), and only where its own scopes \
allow: `leads:write` (create leads, and `GET /api/v1/me`), `read` (every GET), `full` (the whole API). Records \
outside the caller's scope answer 404, as if they did not exist. Errors have one shape, `ErrorBody` (a 422 lists \
the refused fields, `ValidationErrorBody`). Money is in cents, rates are decimal percents, times are RFC 3339."
    ),
    components(schemas(
        crate::error::ApiErrorBody,
        crate::error::ApiError,
        crate::error::ValidationErrorBody,
        crate::error::FieldErrors,
        crate::leads::store::LeadView,
        crate::leads::store::AssignedLo,
        crate::leads::api::CreatedLead,
        crate::leads::api::LeadList,
        crate::leads::store::LeadRow,
        crate::leads::api::StageInput,
        crate::leads::api::ActivityInputBody,
        crate::leads::api::OptOutInput,
        crate::leads::api::LoggedActivity,
        crate::leads::api::OptOutAnswer,
        crate::leads::sources::CampaignBody,
        crate::leads::sources::Source,
        crate::leads::sources::SourceInput,
        crate::leads::partners::Partner,
        crate::leads::partners::PartnerInput,
        crate::escalations::handlers::ApiEscalation,
        crate::escalations::handlers::ApiCreate,
        crate::escalations::handlers::ApiDecision,
        crate::escalations::handlers::EscalationList,
        crate::escalations::handlers::EscalationDetail,
        crate::escalations::store::EventRow,
        crate::accounts::handlers::Me,
        crate::auth::Role,
        crate::routing::handlers::AssignBody,
        crate::routing::handlers::AssignedLead,
        crate::routing::handlers::LeadRouting,
        crate::routing::store::DecisionRow,
        crate::routing::store::HistoryRow,
        crate::routing::handlers::CadenceTasks,
        crate::routing::handlers::CadenceOfficer,
        crate::routing::handlers::CadenceItem,
        crate::metrics::spend::ApiSpend,
        crate::metrics::api::FunnelAnswer,
        crate::metrics::dashboard::FunnelRow,
        crate::metrics::dashboard::Conversion,
        crate::metrics::api::SpeedAnswer,
        crate::metrics::dashboard::SpeedRow,
        crate::metrics::api::LostAnswer,
        crate::metrics::dashboard::LostRow,
        crate::metrics::api::RoiAnswer,
        crate::metrics::dashboard::RoiRow,
        crate::metrics::model::Roi,
        crate::metrics::api::SpendList,
        crate::metrics::store::SourceSpend,
        crate::metrics::api::SpendSaved,
        crate::imports::ImportReport,
        crate::imports::RowError,
        crate::lossmit::model::NewCase,
        crate::lossmit::api::CaseJson,
        crate::lossmit::handlers::CaseQueue,
        crate::lossmit::handlers::QueueRow,
        crate::lossmit::api::ApplicationJson,
        crate::lossmit::api::EvaluationJson,
        crate::lossmit::api::ApplicationInput,
        crate::lossmit::api::StepInput,
        crate::lossmit::api::EvaluationInput,
        crate::lossmit::api::OptionDecisionInput,
        crate::lossmit::api::AppealInput,
        crate::lossmit::api::ReinstatementInput,
        crate::lossmit::store::ApplicationLine,
        crate::lossmit::clocks::Deadline,
        crate::lossmit::clocks::ClockStatus,
        crate::lossmit::requests::BorrowerRequest,
        crate::lossmit::requests::RequestJson,
        crate::lossmit::requests::NewRequest,
        crate::lossmit::requests::Progress,
        crate::portfolio::handlers::StatusForm,
        crate::portfolio::api::LoanList,
        crate::portfolio::store::LoanRow,
        crate::portfolio::api::OpportunityList,
        crate::portfolio::store::OpportunityRow,
        crate::portfolio::api::OpportunityStatusChanged,
        crate::portfolio::handlers::LosStatusBody,
        crate::portfolio::import::LosOutcome,
        crate::locks::api::LockList,
        crate::locks::api::LockDetail,
        crate::locks::api::NewLockBody,
        crate::locks::api::ExtendBody,
        crate::locks::api::RelockBody,
        crate::locks::api::FloatDownBody,
        crate::locks::api::CancelBody,
        crate::locks::store::LockRow,
        crate::loan_options::api::ScenarioBody,
        crate::loan_options::api::ArmBody,
        crate::loan_options::api::CostBody,
        crate::loan_options::api::ScenarioJson,
        crate::loan_options::api::ScenarioList,
        crate::loan_options::store::ScenarioRow,
        crate::loan_options::store::CostRow,
        crate::loan_options::model::Figures,
        crate::loan_options::model::Horizon,
        crate::loan_options::model::ArmPaths,
        crate::loan_options::model::PathStep,
        crate::locks::store::LockEventRow,
        crate::locks::store::InvestorRow,
        crate::locks::store::ScheduleOption,
        crate::locks::investors::InvestorInput,
        crate::locks::import::LosLockInput,
        crate::locks::import::LockImportReport,
        crate::locks::api::LosLocksRefused,
        crate::fair_lending::service::RunInput,
        crate::fair_lending::api::RunJson,
        crate::departments::api::ItemList,
        crate::departments::api::ItemDetail,
        crate::departments::api::ForwardBody,
        crate::departments::api::AnswerBody,
        crate::departments::api::ReturnBody,
        crate::departments::api::ClockStepBody,
        crate::departments::complaints::ComplaintClock,
        crate::departments::complaints::ClockEvent,
        crate::departments::complaint_clock::ComplaintDeadline,
        crate::departments::complaint_clock::DeadlineStatus,
        crate::departments::store::ItemRow,
        crate::departments::store::HopRow,
        crate::departments::store::DepartmentRow,
    ))
)]
struct Contract;

/// The whole document.
pub fn openapi() -> OpenApi {
    let mut doc = Contract::openapi();
    let components = doc.components.get_or_insert_with(Default::default);
    components.schemas.insert("ErrorBody".into(), RefOr::Ref(Ref::from_schema_name("ApiErrorBody")));
    components.schemas.insert("LeadInput".into(), lead_input(false).into());
    components.schemas.insert("LeadPatch".into(), lead_input(true).into());
    components.schemas.insert("LeadReplay".into(), lead_replay().into());
    for (name, status, description) in ERRORS {
        let schema = if *status == 422 { "ValidationErrorBody" } else { "ApiErrorBody" };
        components.responses.insert((*name).into(), json_response(description, Ref::from_schema_name(schema)).into());
    }
    components.security_schemes.insert(
        "bearer".into(),
        SecurityScheme::Http(
            Http::builder()
                .scheme(HttpAuthScheme::Bearer)
                .description(Some(
                    "An API token. Each operation lists the token scopes that admit it (a browser session of the \
same person is admitted too, with its CSRF rules).",
                ))
                .build(),
        ),
    );
    let mut paths = Paths::new();
    for op in OPERATIONS {
        paths.add_path_operation(op.path, vec![http_method(op.method)], operation(op));
    }
    doc.paths = paths;
    doc.tags = Some(TAGS.iter().map(|(n, d)| TagBuilder::new().name(*n).description(Some(*d)).build()).collect());
    doc
}

/// The error answers an operation may give, by component name: (name, status, when). 409 and 415 are
/// documented on the operations that read a body.
const ERRORS: &[(&str, u16, &str)] = &[
    ("BadRequest", 400, "The body is not a JSON object, or a path or query value cannot be read."),
    ("Unauthorized", 401, "No valid token (or session) came with the request."),
    (
        "Forbidden",
        403,
        "The token's scopes do not admit this operation, or the person's role may not do it (say, a loan officer deciding an escalation).",
    ),
    ("NotFound", 404, "No such record in the caller's scope (records outside it answer 404 too)."),
    (
        "Conflict",
        409,
        "A change based on an older `version` (a lead's also carries `current` and `attempted`), or a value another record holds (`field`, `other`).",
    ),
    ("UnsupportedMediaType", 415, "The body is not sent as the media type the operation reads (`Content-Type`)."),
    ("Invalid", 422, "Fields that need attention, each with its messages."),
    ("RateLimited", 429, "Too many attempts; `Retry-After` says when to try again."),
    ("Unavailable", 503, "The database cannot be reached; nothing was saved. Retry after `Retry-After` seconds."),
];

fn http_method(m: &str) -> HttpMethod {
    match m {
        "GET" => HttpMethod::Get,
        "POST" => HttpMethod::Post,
        "PUT" => HttpMethod::Put,
        "PATCH" => HttpMethod::Patch,
        "DELETE" => HttpMethod::Delete,
        other => panic!("no HTTP method {other} in the API"),
    }
}

/// The token scopes that admit `method path`, as `TokenGrant::allows` decides it.
pub fn scopes_for(method: &str, path: &str) -> Vec<&'static str> {
    let method = Method::from_bytes(method.as_bytes()).unwrap_or(Method::GET);
    // A concrete path: the rule matches paths as requests make them.
    let concrete: String =
        path.split('/').map(|s| if s.starts_with('{') { "x" } else { s }).collect::<Vec<_>>().join("/");
    TOKEN_SCOPES
        .iter()
        .copied()
        .filter(|s| {
            TokenGrant { id: uuid::Uuid::nil(), scopes: vec![(*s).into()], issued_by: None }.allows(&method, &concrete)
        })
        .collect()
}

fn operation(op: &Op) -> utoipa::openapi::path::Operation {
    let scopes = scopes_for(op.method, op.path);
    let mut b = OperationBuilder::new()
        .tag(op.tag)
        .summary(Some(op.summary))
        .description(Some(format!(
            "Token scopes: {}.",
            scopes.iter().map(|s| format!("`{s}`")).collect::<Vec<_>>().join(", ")
        )))
        .operation_id(Some(format!("{} {}", op.method.to_lowercase(), op.path)))
        .security(SecurityRequirement::new("bearer", scopes));
    for name in op.path.split('/').filter_map(|s| s.strip_prefix('{')?.strip_suffix('}')) {
        let schema = if name == "id" {
            ObjectBuilder::new()
                .schema_type(Type::String)
                .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(utoipa::openapi::KnownFormat::Uuid)))
        } else {
            ObjectBuilder::new().schema_type(Type::String).min_length(Some(1))
        };
        b = b.parameter(
            ParameterBuilder::new()
                .name(name)
                .parameter_in(ParameterIn::Path)
                .required(Required::True)
                .schema(Some(schema)),
        );
    }
    if op.method == "POST" && op.path == "/api/v1/leads" {
        b = b.parameter(idempotency_key());
    }
    for p in op.query.map(|params| params()).into_iter().flatten() {
        b = b.parameter(p);
    }
    if let Some(body) = &op.body {
        let (mime, schema): (&str, RefOr<Schema>) = match body {
            Body::Schema(name) => ("application/json", Ref::from_schema_name(*name).into()),
            Body::List(name) => ("application/json", ArrayBuilder::new().items(Ref::from_schema_name(*name)).into()),
            Body::Csv => ("text/csv", ObjectBuilder::new().schema_type(Type::String).into()),
        };
        b = b.request_body(Some(
            RequestBodyBuilder::new()
                .required(Some(Required::True))
                .content(mime, ContentBuilder::new().schema(Some(schema)).build())
                .build(),
        ));
    }
    b.responses(responses(op)).build()
}

fn idempotency_key() -> ParameterBuilder {
    ParameterBuilder::new()
        .name("Idempotency-Key")
        .parameter_in(ParameterIn::Header)
        .required(Required::False)
        .description(Some(
            "1 to 200 characters, chosen by the caller, one per lead it means to create. The same key again from \
the same token's person is a replay: 200 with the lead it made (`replayed: true`), and nothing is created twice, \
even when two requests race. Without a key, a `(source, external_id)` the caller already sent is a replay too. A \
request for a person who already has an open lead (same phone or email), or a `(source, external_id)` someone \
else sent, is a duplicate: 200 with `duplicate: true`, recorded on that lead, and the same key keeps answering \
duplicate. Replays and duplicates show the earlier lead only through the caller's scope. 409 only when a \
concurrent create could not settle; send the same request again.",
        ))
        .schema(Some(ObjectBuilder::new().schema_type(Type::String).min_length(Some(1)).max_length(Some(200))))
}

fn responses(op: &Op) -> Responses {
    let mut r = Responses::new();
    for (status, answer) in op.answers {
        let response = match answer {
            Answer::Schema(name) => json_response("Success.", Ref::from_schema_name(*name)),
            Answer::List(name) => json_response("Success.", ArrayBuilder::new().items(Ref::from_schema_name(*name))),
            Answer::Csv => ResponseBuilder::new()
                .description("CSV, one row per record, a header row first.")
                .content(
                    "text/csv",
                    ContentBuilder::new().schema(Some(ObjectBuilder::new().schema_type(Type::String))).build(),
                )
                .build(),
        };
        r.responses.insert(status.to_string(), response.into());
    }
    for (name, status, _) in ERRORS {
        // An operation's own answer for a status (spend import's 422 is its report) comes first.
        if matches!(status, 409 | 415) && op.body.is_none() || r.responses.contains_key(&status.to_string()) {
            continue;
        }
        r.responses.insert(status.to_string(), Ref::from_response_name(*name).into());
    }
    r
}

fn json_response(description: &str, schema: impl Into<RefOr<Schema>>) -> utoipa::openapi::Response {
    ResponseBuilder::new()
        .description(description)
        .content("application/json", ContentBuilder::new().schema(Some(schema)).build())
        .build()
}

/// A lead body: the fields `leads::api::LEAD_FIELDS` names (strings or numbers, null clears), `consent` and
/// `opt_out`; any other field is refused with 422. A change (`patch`) also carries `version`.
fn lead_input(patch: bool) -> ObjectBuilder {
    let text = || ObjectBuilder::new().schema_type(SchemaType::from_iter([Type::String, Type::Number, Type::Null]));
    let mut o = ObjectBuilder::new()
        .schema_type(Type::Object)
        .additional_properties(Some(AdditionalProperties::<Schema>::FreeForm(false)));
    for f in crate::leads::api::LEAD_FIELDS {
        o = o.property(f, text());
    }
    o = o
        .property(
            "consent",
            ObjectBuilder::new().schema_type(SchemaType::from_iter([Type::Object, Type::Null])).description(Some(
                "Consent to be contacted: `channel`, `text`, `captured_at`, `token`, `source_page` (strings).",
            )),
        )
        .property(
            "opt_out",
            ObjectBuilder::new()
                .schema_type(SchemaType::from_iter([Type::String, Type::Array, Type::Null]))
                .description(Some(
                    "Channels the borrower refused: `call`, `text`, `email`, `all`, as `\"call; email\"` or a list.",
                )),
        );
    if patch {
        o = o.property("version", ObjectBuilder::new().schema_type(Type::Integer)).required("version");
    }
    o
}

/// A replay or a duplicate (200): the earlier lead through the caller's scope (all of `Lead`), only what the
/// caller sent and its `id` for an out-of-scope replay, nothing for an out-of-scope duplicate; and the flags.
fn lead_replay() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .additional_properties(Some(AdditionalProperties::<Schema>::FreeForm(true)))
        .property("id", ObjectBuilder::new().schema_type(Type::String))
        .property("duplicate", ObjectBuilder::new().schema_type(Type::Boolean))
        .property("replayed", ObjectBuilder::new().schema_type(Type::Boolean))
        .required("duplicate")
        .required("replayed")
}
