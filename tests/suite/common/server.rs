//! A test's server lives only as long as its handle: dropping a [`RunningServer`] tells the
//! registry's background work (digest builds, the mark digest repair) to give up and asks the
//! server to stop, which closes its listener, lets requests in flight finish and ends its tasks
//! (scan flusher, store watch, change feed, search index). Tests then neither keep serving nor
//! keep signing on every core after they end.

use std::sync::Arc;

use starmark::registry::Registry;
use starmark::startup::Application;
use tokio::sync::oneshot;

/// An [`Application`] running on the test's runtime until this is dropped.
pub struct RunningServer {
    registry: Arc<Registry>,
    stop: Option<oneshot::Sender<()>>,
}

impl RunningServer {
    /// Runs `app` on the current runtime until the handle is dropped.
    pub fn start(app: Application) -> Self {
        let registry = app.registry();
        let (stop, stopped) = oneshot::channel::<()>();
        // The sender's drop completes the receiver as surely as a send does.
        tokio::spawn(app.run_until(async move {
            let _ = stopped.await;
        }));
        Self { registry, stop: Some(stop) }
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        // Synchronous, so it holds even when the runtime is dropped right after the test and the
        // server task never runs again.
        self.registry.stop_background_work();
        self.stop.take();
    }
}
