//! The published API contract (issue 23): `/api/v1/openapi.json` is OpenAPI 3.1, documents every `/api/v1`
//! route the application serves (a route added without documentation fails here), and real answers match the
//! schemas it documents for them.

mod common;

use std::collections::BTreeSet;

use common::TestApp;
use loanfloor::auth::Role;
use serde_json::{Value, json};

async fn document(app: &TestApp) -> Value {
    let res = app.client().get(app.url("/api/v1/openapi.json")).send().await.unwrap();
    assert_eq!(res.status(), 200, "the contract is public");
    res.json().await.unwrap()
}

#[tokio::test]
async fn the_document_is_openapi_3_1_and_covers_every_api_route() {
    let app = TestApp::spawn().await;
    let doc = document(&app).await;
    // `OPENAPI_OUT=path` keeps a copy of the served document (for reading it, or for tools that take a file).
    if let Ok(out) = std::env::var("OPENAPI_OUT") {
        std::fs::write(out, serde_json::to_string_pretty(&doc).unwrap()).unwrap();
    }
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"), "openapi: {}", doc["openapi"]);
    let documented: BTreeSet<(String, String)> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| item.as_object().unwrap().keys().map(move |m| (m.to_uppercase(), path.clone())))
        .collect();
    let served: BTreeSet<(String, String)> = loanfloor::route_table()
        .into_iter()
        .filter(|r| r.path.starts_with("/api/v1/") && r.path != "/api/v1/openapi.json")
        .map(|r| (r.method.to_string(), r.path.to_string()))
        .collect();
    let undocumented: Vec<_> = served.difference(&documented).collect();
    assert!(undocumented.is_empty(), "routes the contract does not document: {undocumented:?}");
    let gone: Vec<_> = documented.difference(&served).collect();
    assert!(gone.is_empty(), "the contract documents routes that are not served: {gone:?}");
    assert!(served.len() >= 40, "the route table lists the API: {}", served.len());

    // Every operation says which token scopes admit it, and answers with the one error shape.
    for (method, path) in &documented {
        let op = &doc["paths"][path][method.to_lowercase()];
        let scopes = op["security"][0]["bearer"].as_array().unwrap_or_else(|| panic!("{method} {path}: no security"));
        assert!(!scopes.is_empty(), "{method} {path}: no scope admits it");
        for status in ["401", "403", "404", "422"] {
            assert!(!op["responses"][status].is_null(), "{method} {path}: no {status} answer");
        }
    }
    let create = &doc["paths"]["/api/v1/leads"]["post"];
    assert_eq!(create["security"][0]["bearer"], json!(["leads:write", "full"]));
    assert_eq!(doc["paths"]["/api/v1/leads"]["get"]["security"][0]["bearer"], json!(["read", "full"]));
    let key = create["parameters"].as_array().unwrap().iter().find(|p| p["name"] == "Idempotency-Key").unwrap();
    assert_eq!(key["in"], "header");
    assert!(key["description"].as_str().unwrap().contains("replay"));
    assert_eq!(doc["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");

    // The page for people shows the same operations.
    let page = app.client().get(app.url("/api/docs")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("POST /api/v1/leads") && html.contains("Idempotency-Key") && html.contains("leads:write"));
    assert!(html.contains("/api/v1/lossmit/cases/{id}/borrower-requests/progress"));
}

#[tokio::test]
async fn real_answers_match_their_documented_schemas() {
    let app = TestApp::spawn().await;
    let doc = document(&app).await;
    let lo = app.create_user(Role::Lo, "lo.contract@example.com", Some("North"), &["TX"]).await;
    let api = app.api(&app.token_for(lo).await);
    let lead = json!({"first_name": "Ana", "last_name": "Reyes", "phone": "(512) 555-0142", "property_state": "TX",
        "loan_amount_cents": 32000000, "property_value_cents": 40000000, "source": "zillow"});

    let res = api.post(app.url("/api/v1/leads")).header("Idempotency-Key", "k-1").json(&lead).send().await.unwrap();
    assert_eq!(res.status(), 201);
    let created: Value = res.json().await.unwrap();
    conforms(&doc, &answer_schema(&doc, "/api/v1/leads", "post", "201"), &created, "POST /api/v1/leads 201");
    let replay = api.post(app.url("/api/v1/leads")).header("Idempotency-Key", "k-1").json(&lead).send().await.unwrap();
    assert_eq!(replay.status(), 200);
    let replay: Value = replay.json().await.unwrap();
    conforms(&doc, &answer_schema(&doc, "/api/v1/leads", "post", "200"), &replay, "POST /api/v1/leads 200");
    assert_eq!(replay["replayed"], true);

    let id = created["id"].as_str().unwrap();
    let shown: Value = api.get(app.url(&format!("/api/v1/leads/{id}"))).send().await.unwrap().json().await.unwrap();
    conforms(&doc, &answer_schema(&doc, "/api/v1/leads/{id}", "get", "200"), &shown, "GET /api/v1/leads/{id}");
    let me: Value = api.get(app.url("/api/v1/me")).send().await.unwrap().json().await.unwrap();
    conforms(&doc, &answer_schema(&doc, "/api/v1/me", "get", "200"), &me, "GET /api/v1/me");

    // Errors: a refused field (422), a body that is not JSON (400), an id that is not one (400, axum's own
    // refusal, in the same shape), somebody else's record (404), a body without its media type (415).
    let cases = [
        (api.post(app.url("/api/v1/leads")).json(&json!({"first_name": "Ana", "colour": "blue"})), 422),
        (api.post(app.url("/api/v1/leads")).body("not json"), 400),
        (api.get(app.url("/api/v1/leads/not-a-uuid")), 400),
        (api.get(app.url(&format!("/api/v1/leads/{}", uuid::Uuid::new_v4()))), 404),
        (api.post(app.url("/api/v1/escalations")).header("content-type", "application/json").body("{"), 400),
        (api.post(app.url("/api/v1/escalations")).body("{}"), 415),
    ];
    for (req, status) in cases {
        let res = req.send().await.unwrap();
        assert_eq!(res.status().as_u16(), status);
        let body: Value = res.json().await.unwrap_or_else(|e| panic!("a {status} answers JSON: {e}"));
        let schema = &doc["components"]["responses"][error_name(status)]["content"]["application/json"]["schema"];
        conforms(&doc, schema, &body, &format!("a {status}"));
    }

    // The checker itself refuses what breaks a schema.
    let lead_schema = json!({"$ref": "#/components/schemas/Lead"});
    let mut broken = shown.clone();
    broken["version"] = json!("one");
    assert!(!violations(&doc, &lead_schema, &broken, "$").is_empty());
    broken.as_object_mut().unwrap().remove("version");
    assert!(!violations(&doc, &lead_schema, &broken, "$").is_empty());
}

fn error_name(status: u16) -> &'static str {
    match status {
        400 => "BadRequest",
        404 => "NotFound",
        415 => "UnsupportedMediaType",
        422 => "Invalid",
        other => panic!("no error answer for {other}"),
    }
}

fn answer_schema(doc: &Value, path: &str, method: &str, status: &str) -> Value {
    doc["paths"][path][method]["responses"][status]["content"]["application/json"]["schema"].clone()
}

fn conforms(doc: &Value, schema: &Value, value: &Value, what: &str) {
    assert!(!schema.is_null(), "{what}: no documented schema");
    let v = violations(doc, schema, value, "$");
    assert!(v.is_empty(), "{what} breaks its schema: {v:?}\n{value:#}");
}

/// The JSON Schema keywords the document uses: `$ref`, `allOf`, `oneOf`, `type` (one or a list), `required`,
/// `properties`, `additionalProperties: false`, `items`, `enum`, `format: uuid`.
fn violations(doc: &Value, schema: &Value, value: &Value, at: &str) -> Vec<String> {
    if let Some(r) = schema["$ref"].as_str() {
        let name = r.strip_prefix("#/components/schemas/").expect("a schema reference");
        return violations(doc, &doc["components"]["schemas"][name], value, at);
    }
    let mut out = vec![];
    for part in schema["allOf"].as_array().into_iter().flatten() {
        out.extend(violations(doc, part, value, at));
    }
    if let Some(any) = schema["oneOf"].as_array() {
        if !any.iter().any(|s| violations(doc, s, value, at).is_empty()) {
            out.push(format!("{at}: matches none of oneOf"));
        }
    }
    let types: Vec<&str> = match &schema["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    };
    let is = |t: &str| match t {
        "null" => value.is_null(),
        "boolean" => value.is_boolean(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "string" => value.is_string(),
        "array" => value.is_array(),
        "object" => value.is_object(),
        _ => true,
    };
    if !types.is_empty() && !types.iter().any(|t| is(t)) {
        out.push(format!("{at}: {value} is not {types:?}"));
        return out;
    }
    if let Some(allowed) = schema["enum"].as_array() {
        if !allowed.contains(value) {
            out.push(format!("{at}: {value} not in {allowed:?}"));
        }
    }
    if schema["format"] == "uuid" && value.as_str().is_some_and(|s| uuid::Uuid::parse_str(s).is_err()) {
        out.push(format!("{at}: {value} is not a UUID"));
    }
    if let Value::Object(fields) = value {
        for name in schema["required"].as_array().into_iter().flatten().filter_map(Value::as_str) {
            if !fields.contains_key(name) {
                out.push(format!("{at}: `{name}` is missing"));
            }
        }
        let props = schema["properties"].as_object();
        for (name, v) in fields {
            match props.and_then(|p| p.get(name)) {
                Some(s) => out.extend(violations(doc, s, v, &format!("{at}.{name}"))),
                None if schema["additionalProperties"] == false => {
                    out.push(format!("{at}: `{name}` is not documented"))
                }
                None => {}
            }
        }
    }
    if let (Value::Array(items), Some(s)) = (value, schema.get("items")) {
        for (i, v) in items.iter().enumerate() {
            out.extend(violations(doc, s, v, &format!("{at}[{i}]")));
        }
    }
    out
}
