//! The OpenAPI contract (issue 30 §1): `GET /api/v1/openapi.json` validates with an independent
//! validator (`openapi-spec-validator` from PyPI), names every route the router has and nothing
//! it has not (checked against the router's own table and against the live server, method by
//! method), and every example in it validates against its schema (Python's `jsonschema`). The
//! reference page at `/api/docs` is rendered from it under the pages' policy.
//!
//! The Python tools live in the virtualenv `scripts/test` makes (`target/py-tools`, or
//! `STARMARK_PY_TOOLS`); `scripts/schemathesis` fuzzes a live server against the document.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;

use crate::common::{spawn_app, TestApp};
use serde_json::Value;

/// The fallback's detail: a path no route matches.
const NO_ROUTE: &str = "no such route; see the API overview in the README";
/// The methods probed on every documented path (HEAD follows GET in axum).
const METHODS: [&str; 6] = ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"];

/// The Python of the test tools' virtualenv, or a failure saying how to make it.
fn python() -> PathBuf {
    let root = std::env::var_os("STARMARK_PY_TOOLS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/py-tools"));
    let python = root.join("bin/python");
    let ready = Command::new(&python)
        .args(["-c", "import openapi_spec_validator, jsonschema"])
        .output()
        .is_ok_and(|output| output.status.success());
    assert!(
        ready,
        "the OpenAPI tests need openapi-spec-validator and jsonschema in a Python virtualenv at {}: \
         run scripts/test (it makes target/py-tools), or `python3 -m venv target/py-tools && \
         target/py-tools/bin/pip install -r scripts/py-tools.txt`, or set STARMARK_PY_TOOLS",
        root.display()
    );
    python
}

async fn document(app: &TestApp) -> Value {
    let response = app.get("/api/v1/openapi.json").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    response.json().await.expect("the document is JSON")
}

/// Runs `script` (Python) with the document's file as its argument; its output and success.
fn run_python(document: &Value, script: &str) -> (bool, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("openapi.json");
    std::fs::write(&file, serde_json::to_vec(document).expect("document")).expect("write");
    let output = Command::new(python()).args(["-c", script]).arg(&file).output().expect("python runs");
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    (output.status.success(), text)
}

const VALIDATE: &str = "
import json, sys
from openapi_spec_validator import validate
from openapi_spec_validator.validation.exceptions import OpenAPIValidationError
document = json.load(open(sys.argv[1]))
try:
    validate(document)
except OpenAPIValidationError as error:
    print('invalid:', error)
    sys.exit(1)
print('valid', document['openapi'])
";

#[tokio::test]
async fn the_document_is_valid_openapi_3_1_and_served_with_an_etag() {
    let app = spawn_app().await;
    let response = app.get("/api/v1/openapi.json").await;
    let etag = response.headers()["etag"].to_str().expect("etag").to_string();
    let document: Value = response.json().await.expect("json");
    assert_eq!(document["openapi"], "3.1.0");
    let (valid, output) = run_python(&document, VALIDATE);
    assert!(valid, "openapi-spec-validator refuses the document: {output}");
    assert!(output.contains("valid 3.1.0"), "{output}");

    // The validator is not a rubber stamp: a path parameter left undescribed is refused.
    let mut broken = document.clone();
    broken["paths"]["/v/{token}"]["get"].as_object_mut().expect("operation").remove("parameters");
    let (valid, output) = run_python(&broken, VALIDATE);
    assert!(!valid && output.contains("token"), "a path without its parameter passed: {output}");

    // Prepared once: the same bytes again, and 304 for a client holding them.
    let again =
        app.client.get(app.url("/api/v1/openapi.json")).header("if-none-match", &etag).send().await.expect("get");
    assert_eq!(again.status(), 304);
    assert_eq!(again.headers()["etag"], etag.as_str());
}

/// The admin operations carry the bearer scheme, and error answers are problem documents.
#[tokio::test]
async fn admin_operations_need_the_bearer_scheme_and_errors_are_problems() {
    let app = spawn_app().await;
    let document = document(&app).await;
    assert_eq!(document["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");
    let mut admin = 0;
    for (path, item) in document["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("item") {
            let tagged_admin = operation["tags"].as_array().is_some_and(|tags| tags.iter().any(|t| t == "admin"));
            let secured = operation["security"].as_array().is_some_and(|s| s.iter().any(|r| r.get("bearer").is_some()));
            assert_eq!(
                tagged_admin, secured,
                "{method} {path}: admin operations, and only they, need the bearer token"
            );
            admin += usize::from(secured);
            for (status, answer) in operation["responses"].as_object().expect("responses") {
                if status.starts_with('4') || status.starts_with('5') {
                    assert!(answer["content"].as_object().is_some_and(|c| !c.is_empty()), "{method} {path} {status}");
                }
            }
        }
    }
    assert!(admin >= 7, "only {admin} admin operations documented");
    // The admin routes do refuse without a token, as the document says.
    let refused =
        app.client.post(app.url("/api/v1/certificates")).json(&serde_json::json!({})).send().await.expect("post");
    assert_eq!(refused.status(), 401);
}

/// The router's paths and the document's, both ways, from the router's own table.
#[tokio::test]
async fn every_routed_path_is_documented_and_every_documented_path_is_routed() {
    let app = spawn_app().await;
    let document = document(&app).await;
    let documented: BTreeSet<String> = document["paths"].as_object().expect("paths").keys().cloned().collect();
    let routed: BTreeSet<String> = starmark::http::routed_paths(&app.config)
        .iter()
        .map(|path| starmark::http::routes::openapi_path(path))
        .collect();
    let undocumented: Vec<_> = routed.difference(&documented).collect();
    let unrouted: Vec<_> = documented.difference(&routed).collect();
    assert!(undocumented.is_empty(), "routes missing from the OpenAPI document: {undocumented:?}");
    assert!(unrouted.is_empty(), "documented paths the router does not have: {unrouted:?}");
    assert!(routed.len() >= 45, "{} routes", routed.len());
}

/// The live server, method by method: each documented operation reaches a handler (not the
/// router's 404 or 405), and each method a path does not document is refused with 405.
#[tokio::test]
async fn every_documented_operation_is_answered_and_no_other_method_is() {
    let app = crate::common::spawn_app_with(|config| config.rate_limits = UNLIMITED.parse().expect("limits")).await;
    let document = document(&app).await;
    let mut probed = 0;
    for (path, item) in document["paths"].as_object().expect("paths") {
        let concrete = concrete(path);
        for method in METHODS {
            let documented = item.get(method.to_ascii_lowercase()).is_some();
            let request = app.client.request(method.parse().expect("method"), app.url(&concrete));
            let response = request.send().await.expect("request");
            let status = response.status().as_u16();
            let body = response.text().await.unwrap_or_default();
            if documented {
                let fallback = status == 404 && body.contains(NO_ROUTE);
                assert!(status != 405 && !fallback, "{method} {path} is documented but not routed: {status} {body}");
                probed += 1;
            } else {
                assert_eq!(status, 405, "{method} {path} ({concrete}) is answered but not documented: {body}");
            }
        }
    }
    assert!(probed >= 55, "{probed} operations probed");
}

/// Every rate-limit class off, so that probing every route is not refused.
const UNLIMITED: &str = "scans=off,lookups=off,search=off,bulk=off,receipts=off,receipt_checks=off,artwork=off,log=off";

/// `path` with each `{parameter}` replaced by a value a handler will parse and refuse or answer.
fn concrete(path: &str) -> String {
    let mut out = String::new();
    let mut rest = path;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let end = rest[start..].find('}').map_or(rest.len(), |end| start + end + 1);
        out.push('x');
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

const EXAMPLES: &str = r##"
import json, sys
from jsonschema import Draft202012Validator
document = json.load(open(sys.argv[1]))
components = document.get("components", {})
checked, failures = 0, []

def check(where, schema, value):
    global checked
    if schema is None:
        return
    root = dict(schema)
    root["components"] = components
    errors = sorted(Draft202012Validator(root).iter_errors(value), key=str)
    checked += 1
    if errors:
        failures.append(f"{where}: {errors[0].message}")

def media(where, content):
    for kind, body in (content or {}).items():
        schema = body.get("schema")
        if "example" in body:
            check(f"{where} {kind} example", schema, body["example"])
        for name, example in (body.get("examples") or {}).items():
            check(f"{where} {kind} examples.{name}", schema, example.get("value"))

for name, schema in components.get("schemas", {}).items():
    if "example" in schema:
        check(f"components.schemas.{name}", {"$ref": f"#/components/schemas/{name}"}, schema["example"])
for path, item in document["paths"].items():
    for method, operation in item.items():
        where = f"{method.upper()} {path}"
        for parameter in operation.get("parameters", []):
            if "example" in parameter:
                check(f"{where} parameter {parameter['name']}", parameter.get("schema"), parameter["example"])
        media(f"{where} body", (operation.get("requestBody") or {}).get("content"))
        for status, answer in operation.get("responses", {}).items():
            media(f"{where} {status}", answer.get("content"))
print(f"checked {checked}")
for failure in failures:
    print("FAIL", failure)
sys.exit(1 if failures else 0)
"##;

#[tokio::test]
async fn every_example_validates_against_its_schema() {
    let app = spawn_app().await;
    let document = document(&app).await;
    let (valid, output) = run_python(&document, EXAMPLES);
    assert!(valid, "examples that break their schemas:\n{output}");
    let checked: usize =
        output.lines().find_map(|line| line.strip_prefix("checked ")).and_then(|n| n.trim().parse().ok()).unwrap_or(0);
    assert!(checked >= 20, "only {checked} examples checked: {output}");

    // The check can fail: an example of the wrong shape is caught.
    let mut broken = document.clone();
    let example = &mut broken["paths"]["/api/v1/certificates"]["get"]["responses"]["200"]["content"]
        ["application/json"]["example"];
    assert!(example.is_object(), "the search answer has an example");
    example["items"][0]["level"] = Value::from("six_star");
    let (valid, output) = run_python(&broken, EXAMPLES);
    assert!(!valid && output.contains("FAIL GET /api/v1/certificates 200"), "{output}");
}

/// `/api/docs`: every operation of the document on a page of our own, no third-party script.
#[tokio::test]
async fn the_reference_page_lists_every_operation_under_the_pages_policy() {
    let app = spawn_app().await;
    let document = document(&app).await;
    let response = app.get("/api/docs?lang=en").await;
    assert_eq!(response.status(), 200);
    let policy = response.headers()["content-security-policy"].to_str().expect("csp").to_string();
    assert_eq!(policy, starmark::http::pages::CONTENT_SECURITY_POLICY);
    let page = response.text().await.expect("page");
    for (path, item) in document["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("item").keys() {
            let heading = format!("{} {}", method.to_uppercase(), path.replace('&', "&amp;"));
            assert!(page.contains(&heading), "the page lacks {heading}");
        }
    }
    assert!(no_foreign_sources(&page), "the page loads or links something from elsewhere");
    assert!(page.contains("SM2026ASC000001"), "the examples are shown");
}

/// Whether every `src=` and `href=` of `page` is on this server.
fn no_foreign_sources(page: &str) -> bool {
    ["src=\"", "href=\""].iter().all(|attribute| {
        page.split(attribute)
            .skip(1)
            .all(|rest| rest.starts_with('/') || rest.starts_with('#') || rest.starts_with('?'))
    })
}
