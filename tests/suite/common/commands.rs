//! `starmark` subcommands run beside a test's app, on its data, keys, database and public URL.

use std::process::{Command, Output};

use super::TestApp;

impl TestApp {
    /// The `starmark` binary as [`super::starmark_command`] makes it, pointed at this app's data,
    /// keys, public URL and database.
    pub fn starmark(&self) -> Command {
        let mut command = super::starmark_command(self.dir.path());
        command.env("STARMARK_PUBLIC_URL", &self.config.public_url);
        if let Some(url) = &self.config.database_url {
            command.env("DATABASE_URL", url);
        }
        command
    }

    /// `starmark audit ARGS` on this app's store, within the usual deadline, waited for off the
    /// runtime's thread.
    pub async fn audit(&self, args: &[&str]) -> Output {
        let mut command = self.starmark();
        command.arg("audit").args(args);
        super::process::output_async(command).await
    }
}
