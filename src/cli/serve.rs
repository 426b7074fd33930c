//! `starmark serve`.

use super::Outcome;
use crate::config::Config;
use crate::startup::{shutdown_signal, Application};

pub async fn run(config: &Config) -> anyhow::Result<Outcome> {
    let app = Application::build(config).await?;
    tracing::info!(address = %app.local_addr()?, "starmark listening");
    app.run_until(shutdown_signal()).await?;
    Ok(Outcome::Done)
}
