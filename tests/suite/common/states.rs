//! What an instance answers for a certificate's state, and waiting until it answers a given one:
//! how the multi-instance tests see a change arrive, whichever mechanism carried it.

use serde_json::Value;

use super::TestApp;

/// The status code and the `status.state` of `number` as the instance at `base` answers it.
pub async fn state_at(app: &TestApp, base: &str, number: &str) -> (u16, Option<String>) {
    let response = app.client.get(format!("{base}/api/v1/certificates/{number}")).send().await.unwrap();
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    (status, body["status"]["state"].as_str().map(String::from))
}

/// Polls `base` until the certificate reads `state` (failing on any 5xx meanwhile); how soon is
/// for benchmarks: the tests assert which mechanism carried the change.
pub async fn until_state(app: &TestApp, base: &str, number: &str, state: &str) {
    super::wait::until(format_args!("{number} reading {state} on {base}"), || async {
        let (status, seen) = state_at(app, base, number).await;
        assert!(status < 500, "no 5xx while waiting, got {status}");
        if seen.as_deref() == Some(state) {
            Ok(())
        } else {
            Err(format!("{seen:?}"))
        }
    })
    .await
}
