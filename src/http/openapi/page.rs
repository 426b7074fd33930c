//! `GET /api/docs`: the human reference, rendered on the server from the OpenAPI document.
//!
//! No script and no third-party file: the operations grouped by tag, each with its parameters,
//! body, answers and examples, under the pages' content security policy.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use maud::{html, Markup};
use serde_json::Value;

use crate::http::extract::ApiQuery;
use crate::http::pages::{html_response, Lang, LangQuery, Page};
use crate::http::AppState;

/// The methods in the order the page lists them.
const METHODS: [&str; 5] = ["get", "post", "put", "delete", "options"];

/// The page in `lang` (the frame's language; the reference itself is in English).
pub fn render(document: &Value, lang: Lang) -> String {
    let body = html! {
        h1 { "Starmark API reference" }
        p { (text(&document["info"]["description"])) }
        p {
            "The machine-readable contract: " a href="/api/v1/openapi.json" { "/api/v1/openapi.json" }
            " (OpenAPI 3.1)."
        }
        nav aria-label="Tags" {
            ul {
                @for tag in list(&document["tags"]) {
                    li { a href={ "#tag-" (text(&tag["name"])) } { (text(&tag["name"])) } " — " (text(&tag["description"])) }
                }
            }
        }
        @for tag in list(&document["tags"]) {
            (section(document, tag))
        }
    };
    Page { lang, title: "API", path: "/api/docs", query: "", styles: &[], scripts: &[], body }.render()
}

fn section(document: &Value, tag: &Value) -> Markup {
    let name = text(&tag["name"]);
    let operations = operations_of(document, name);
    html! {
        section id={ "tag-" (name) } {
            h2 { (name) }
            p { (text(&tag["description"])) }
            @for (method, path, operation) in operations {
                (operation_block(document, method, path, operation))
            }
        }
    }
}

/// The operations tagged `tag`, in the document's order of paths.
fn operations_of<'a>(document: &'a Value, tag: &str) -> Vec<(&'static str, &'a str, &'a Value)> {
    let mut found = Vec::new();
    if let Some(paths) = document["paths"].as_object() {
        for (path, item) in paths {
            for method in METHODS {
                let operation = &item[method];
                if list(&operation["tags"]).iter().any(|t| t.as_str() == Some(tag)) {
                    found.push((method, path.as_str(), operation));
                }
            }
        }
    }
    found
}

fn operation_block(document: &Value, method: &str, path: &str, operation: &Value) -> Markup {
    let id = format!("{method}-{path}").replace(['/', '{', '}', '.', '*'], "-");
    html! {
        article id=(id) {
            h3 { code { (method.to_uppercase()) " " (path) } }
            @if let Some(summary) = operation["summary"].as_str() { p { strong { (summary) } } }
            @if let Some(description) = operation["description"].as_str() { p { (description) } }
            @if operation.get("security").is_some() {
                p { "Needs " code { "Authorization: Bearer <token>" } "." }
            }
            @let parameters = list(&operation["parameters"]);
            @if !parameters.is_empty() {
                h4 { "Parameters" }
                table {
                    thead { tr { th { "name" } th { "in" } th { "required" } th { "description" } } }
                    tbody {
                        @for parameter in parameters {
                            tr {
                                td { code { (text(&parameter["name"])) } }
                                td { (text(&parameter["in"])) }
                                td { @if parameter["required"].as_bool() == Some(true) { "yes" } @else { "no" } }
                                td { (text(&parameter["description"])) }
                            }
                        }
                    }
                }
            }
            @if let Some(content) = operation["requestBody"]["content"].as_object() {
                h4 { "Body" }
                @for (media, body) in content {
                    p { code { (media) } " " (schema_name(&body["schema"])) }
                    (examples(document, body))
                }
            }
            h4 { "Answers" }
            dl {
                @if let Some(responses) = operation["responses"].as_object() {
                    @for (status, response) in responses {
                        dt { (status) }
                        dd {
                            (text(&response["description"]))
                            @if let Some(content) = response["content"].as_object() {
                                @for (media, body) in content {
                                    br; code { (media) } " " (schema_name(&body["schema"]))
                                    (examples(document, body))
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The examples of a media type object, pretty-printed.
fn examples(_document: &Value, media: &Value) -> Markup {
    let mut shown: Vec<&Value> = Vec::new();
    if let Some(example) = media.get("example") {
        shown.push(example);
    }
    if let Some(named) = media["examples"].as_object() {
        shown.extend(named.values().filter_map(|example| example.get("value")));
    }
    html! {
        @for example in shown {
            pre { code { (pretty(example)) } }
        }
    }
}

fn pretty(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => serde_json::to_string_pretty(other).unwrap_or_default(),
    }
}

/// `Name` of a `$ref` schema, or the schema's type.
fn schema_name(schema: &Value) -> String {
    if let Some(reference) = schema["$ref"].as_str() {
        return reference.rsplit('/').next().unwrap_or(reference).to_string();
    }
    match &schema["type"] {
        Value::String(kind) => kind.clone(),
        _ => String::new(),
    }
}

fn text(value: &Value) -> &str {
    value.as_str().unwrap_or("")
}

fn list(value: &Value) -> &[Value] {
    value.as_array().map(Vec::as_slice).unwrap_or(&[])
}

#[utoipa::path(
    get,
    path = "/api/docs",
    tag = "pages",
    summary = "The API reference",
    description = "This contract as a page, rendered on the server (no script).",
    params(("lang" = Option<String>, Query, description = "`zh` or `en`: the page frame's language")),
    responses((status = 200, description = "The page", content_type = "text/html", body = String))
)]
pub async fn reference_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiQuery(query): ApiQuery<LangQuery>,
) -> Response {
    let lang = Lang::negotiate(query.lang.as_deref(), &headers);
    let page = match lang {
        Lang::Zh => &state.openapi.pages[0],
        Lang::En => &state.openapi.pages[1],
    };
    let mut response = html_response(StatusCode::OK, String::new(), "public, max-age=300");
    *response.body_mut() = axum::body::Body::from(page.clone());
    response
}
