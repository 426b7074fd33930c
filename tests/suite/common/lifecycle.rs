//! Status changes made as setup steps, whose refusal must fail the test that relies on them.

use serde_json::Value;

use super::TestApp;

impl TestApp {
    /// Changes `number`'s status with `body` (suspend, reinstate, revoke, withdraw) as a setup
    /// step: fails the test on anything but 200, and answers the changed certificate.
    pub async fn set_status(&self, number: &str, body: Value) -> Value {
        let (status, answer) = self.status(number, body).await;
        assert_eq!(status, 200, "status change of {number} refused: {answer}");
        answer
    }
}
