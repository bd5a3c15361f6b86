//! `GET /api/docs`: the contract as a page for people, read from the same document the API serves.

use askama::Template;
use askama_web::WebTemplate;
use serde_json::Value;

use super::{DOCUMENT, TAGS};
use crate::auth::PageCtx;

#[derive(Template, WebTemplate)]
#[template(path = "home/api_docs.html")]
pub struct DocsPage {
    ctx: PageCtx,
    description: String,
    groups: Vec<Group>,
    errors: Vec<(String, String)>,
}

struct Group {
    tag: String,
    description: String,
    ops: Vec<OpView>,
}

struct OpView {
    anchor: String,
    method: String,
    path: String,
    summary: String,
    scopes: String,
    params: Vec<String>,
    body: String,
    answers: Vec<(String, String)>,
}

pub async fn page(ctx: PageCtx) -> DocsPage {
    let doc = &*DOCUMENT;
    let mut groups: Vec<Group> =
        TAGS.iter().map(|(t, d)| Group { tag: (*t).to_string(), description: (*d).to_string(), ops: vec![] }).collect();
    for (path, item) in doc["paths"].as_object().into_iter().flatten() {
        for (method, op) in item.as_object().into_iter().flatten() {
            let tag = op["tags"][0].as_str().unwrap_or_default();
            if let Some(g) = groups.iter_mut().find(|g| g.tag == tag) {
                g.ops.push(op_view(method, path, op));
            }
        }
    }
    for g in &mut groups {
        g.ops.sort_by(|a, b| (&a.path, &a.method).cmp(&(&b.path, &b.method)));
    }
    let errors = doc["components"]["responses"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(name, r)| (name.clone(), text(&r["description"])))
        .collect();
    DocsPage { ctx, description: text(&doc["info"]["description"]), groups, errors }
}

fn text(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

/// What a schema is, in a few words: a component's name, a list of one, or its description.
fn schema_name(s: &Value) -> String {
    if let Some(r) = s["$ref"].as_str() {
        return r.rsplit('/').next().unwrap_or_default().to_string();
    }
    if s["type"] == "array" {
        return format!("list of {}", schema_name(&s["items"]));
    }
    s["description"].as_str().map_or_else(|| s["type"].to_string().trim_matches('"').to_string(), str::to_string)
}

fn op_view(method: &str, path: &str, op: &Value) -> OpView {
    let scopes = op["security"][0]["bearer"].as_array().into_iter().flatten().map(text).collect::<Vec<_>>().join(", ");
    let params = op["parameters"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            format!(
                "{} ({}{})",
                text(&p["name"]),
                text(&p["in"]),
                if p["required"] == true { ", required" } else { "" }
            )
        })
        .collect();
    let body = op["requestBody"]["content"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(mime, c)| format!("{mime}: {}", schema_name(&c["schema"])))
        .collect::<Vec<_>>()
        .join("; ");
    let answers = op["responses"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(status, r)| {
            let what = match r["$ref"].as_str() {
                Some(name) => name.rsplit('/').next().unwrap_or_default().to_string(),
                None => r["content"]
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|(mime, c)| format!("{mime}: {}", schema_name(&c["schema"])))
                    .collect::<Vec<_>>()
                    .join("; "),
            };
            (status.clone(), what)
        })
        .collect();
    let method = method.to_uppercase();
    OpView {
        anchor: format!("{}-{}", method.to_lowercase(), path.replace(['/', '{', '}', '.'], "-")),
        method,
        path: path.to_string(),
        summary: text(&op["summary"]),
        scopes,
        params,
        body,
        answers,
    }
}
