//! Child processes with a deadline: a command a test expects to finish (a subcommand, or a
//! `serve` that must refuse to start) is killed if it outlives its deadline, so a regression
//! that lets it run on fails the test instead of hanging the suite. A process a test keeps
//! running (a server) is held by a [`Guard`], which kills it when the test ends, even by a panic.
//! Async tests wait for processes off the runtime's threads ([`output_async`]).

use std::io::Read;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// How long a command the tests expect to exit may run: generous for a loaded machine.
pub const DEADLINE: Duration = Duration::from_secs(120);

/// A running child process, killed and reaped when this is dropped.
pub struct Guard(Child);

impl Guard {
    /// Spawns `command` under a guard.
    pub fn spawn(command: &mut Command) -> std::io::Result<Self> {
        command.spawn().map(Self)
    }
}

impl std::ops::Deref for Guard {
    type Target = Child;

    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for Guard {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs `command` like `Command::output`, but kills it and fails the test after `limit`; a
/// program that cannot be started at all is an error, so that the caller can say what to
/// install.
pub fn try_output_within(command: &mut Command, limit: Duration) -> std::io::Result<Output> {
    let mut child = Guard::spawn(command.stdout(Stdio::piped()).stderr(Stdio::piped()))?;
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            bytes
        })
    };
    let stdout = drain(Box::new(child.stdout.take().expect("stdout is piped")));
    let stderr = drain(Box::new(child.stderr.take().expect("stderr is piped")));
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for the child") {
            break status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            let said = String::from_utf8_lossy(&stderr.join().unwrap_or_default()).into_owned();
            panic!("{:?} still ran after {limit:?} and was killed; it said: {said}", command.get_args());
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Ok(Output { status, stdout: stdout.join().unwrap_or_default(), stderr: stderr.join().unwrap_or_default() })
}

/// [`try_output_within`] for a program that must be there.
pub fn output_within(command: &mut Command, limit: Duration) -> Output {
    try_output_within(command, limit).unwrap_or_else(|e| panic!("cannot start {:?}: {e}", command.get_program()))
}

/// [`output_within`] the usual [`DEADLINE`].
pub fn output(command: &mut Command) -> Output {
    output_within(command, DEADLINE)
}

/// [`try_output_within`] the usual [`DEADLINE`].
pub fn try_output(command: &mut Command) -> std::io::Result<Output> {
    try_output_within(command, DEADLINE)
}

/// [`output`] for async tests: waits on a blocking thread, not on the runtime's.
pub async fn output_async(mut command: Command) -> Output {
    tokio::task::spawn_blocking(move || output(&mut command)).await.expect("the command's waiter ran to its end")
}
