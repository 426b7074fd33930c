//! Child processes with a deadline: a command a test expects to finish (a subcommand, or a
//! `serve` that must refuse to start) is killed if it outlives its deadline, so a regression
//! that lets it run on fails the test instead of hanging the suite.

use std::io::Read;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// How long a command the tests expect to exit may run: generous for a loaded machine.
pub const DEADLINE: Duration = Duration::from_secs(120);

/// Runs `command` like `Command::output`, but kills it and fails the test after `limit`.
pub fn output_within(command: &mut Command, limit: Duration) -> Output {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {:?}: {e}", command.get_program()));
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
    Output { status, stdout: stdout.join().unwrap_or_default(), stderr: stderr.join().unwrap_or_default() }
}

/// [`output_within`] the usual [`DEADLINE`].
pub fn output(command: &mut Command) -> Output {
    output_within(command, DEADLINE)
}
