//! The harness itself: a test's server, its peers and their background work end with the test's
//! `TestApp`, so no test keeps serving or signing on every core after it is done.

use crate::common;

use common::{issue_body, spawn_app, wait};

/// The `host:port` of a `http://host:port` base URL.
fn address(base: &str) -> String {
    base.trim_start_matches("http://").to_string()
}

async fn accepts(address: &str) -> bool {
    tokio::net::TcpStream::connect(address).await.is_ok()
}

#[tokio::test]
async fn a_dropped_app_stops_serving_and_gives_up_its_background_work() {
    let app = spawn_app().await;
    let peer = app.spawn_peer().await;
    app.issue(&issue_body("SM2026HARNESS1", "测试夹具有限公司", 71)).await;
    // Ordered through the registry alone, so no background build has run for it yet.
    let record = app.order_without_index("SM2026HARNESS1", 20).await;
    let addresses = [address(&app.base), address(&peer)];
    for address in &addresses {
        assert!(accepts(address).await, "{address} serves while the app lives");
    }
    let registry = app.registry.clone();

    drop(app);
    wait::until_true("the dropped app's and its peer's ports refuse connections", || async {
        for address in &addresses {
            if accepts(address).await {
                return false;
            }
        }
        true
    })
    .await;
    // A digest build (as an order starts in the background) now gives up instead of signing on.
    let built = registry.prepare_mark_digests(&record, 1).await;
    assert!(built.is_err(), "a stopped app still built a digest index: {built:?}");
}
