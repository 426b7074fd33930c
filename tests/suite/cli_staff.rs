//! `starmark staff` as a user runs it: members added with a password from the environment or a
//! terminal prompt that does not echo, listed, disabled, their passwords reset (which ends the
//! sessions a running server holds), and mistakes said plainly.

use crate::common;

use std::path::Path;
use std::process::{Command, Output, Stdio};

use common::console::{post_login, set_cookie};

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

async fn staff(dir: &Path, args: &[&str], password: Option<&str>) -> Output {
    let mut command = common::starmark_command(dir);
    command.arg("staff").args(args);
    if let Some(password) = password {
        command.env("STARMARK_STAFF_PASSWORD", password);
    }
    common::process::output_async(command).await
}

#[tokio::test]
async fn members_are_added_listed_disabled_and_reset_from_the_command_line_against_a_running_server() {
    let app = common::spawn_app().await;
    let dir = app.dir.path();

    let added =
        staff(dir, &["add", "Wang.Li", "--role", "decider", "--name", "王丽"], Some("a long enough password")).await;
    assert!(added.status.success(), "{}", text(&added.stderr));
    assert_eq!(text(&added.stdout).trim(), "added wang.li\tdecider\tno-totp\tactive\t王丽");
    assert!(text(&added.stderr).contains("enrols an authenticator app"), "{}", text(&added.stderr));
    let added = staff(dir, &["add", "eva", "--role", "evaluator"], Some("another long password")).await;
    assert!(added.status.success(), "{}", text(&added.stderr));

    let listed = staff(dir, &["list"], None).await;
    assert!(listed.status.success());
    assert_eq!(text(&listed.stdout), "eva\tevaluator\tno-totp\tactive\teva\nwang.li\tdecider\tno-totp\tactive\t王丽\n");

    // The running server signs the member in; a reset from the command line ends the session.
    let response = post_login(&app, "eva", "another long password").await;
    assert_eq!(response.status(), 303);
    let cookie = common::console::cookie_pair(&set_cookie(&response).unwrap());
    assert_eq!(common::console::get(&app, "/admin/", &cookie).await.status(), 200);
    let reset = staff(dir, &["reset-password", "eva"], Some("the third password")).await;
    assert!(reset.status.success(), "{}", text(&reset.stderr));
    assert!(text(&reset.stdout).contains("sessions are ended"));
    assert_eq!(common::console::get(&app, "/admin/", &cookie).await.status(), 303, "the session is over");
    assert_eq!(post_login(&app, "eva", "another long password").await.status(), 401);
    let response = post_login(&app, "eva", "the third password").await;
    assert_eq!(response.status(), 303);
    let cookie = common::console::cookie_pair(&set_cookie(&response).unwrap());

    let disabled = staff(dir, &["disable", "eva"], None).await;
    assert!(disabled.status.success(), "{}", text(&disabled.stderr));
    assert_eq!(common::console::get(&app, "/admin/", &cookie).await.status(), 303);
    assert_eq!(post_login(&app, "eva", "the third password").await.status(), 403);
    let listed = staff(dir, &["list"], None).await;
    assert!(text(&listed.stdout).starts_with("eva\tevaluator\tno-totp\tdisabled\t"), "{}", text(&listed.stdout));
}

#[tokio::test]
async fn mistakes_are_said_plainly_and_change_nothing() {
    let app = common::spawn_app().await;
    let dir = app.dir.path();

    // No terminal and no variable: say how to give a password.
    let none = staff(dir, &["add", "eva", "--role", "evaluator"], None).await;
    assert!(!none.status.success());
    let said = text(&none.stderr);
    assert!(said.contains("STARMARK_STAFF_PASSWORD") && said.contains("terminal"), "{said}");

    for (args, password, expected) in [
        (&["add", "eva", "--role", "issuer"][..], "a long enough password", "not a staff role"),
        (&["add", "1eva", "--role", "evaluator"][..], "a long enough password", "username: must start with a letter"),
        (&["add", "eva", "--role", "evaluator"][..], "short", "at least 10 characters"),
        (&["disable", "nobody"][..], "", "no member of staff named nobody"),
        (&["reset-password", "nobody"][..], "a long enough password", "no member of staff named nobody"),
    ] {
        let out = staff(dir, args, Some(password).filter(|p| !p.is_empty())).await;
        assert!(!out.status.success(), "{args:?}");
        assert!(text(&out.stderr).contains(expected), "{args:?}: {}", text(&out.stderr));
        assert!(password.is_empty() || !text(&out.stderr).contains(password) || password == "short");
    }
    let first = staff(dir, &["add", "eva", "--role", "evaluator"], Some("a long enough password")).await;
    assert!(first.status.success());
    let again = staff(dir, &["add", "EVA", "--role", "auditor"], Some("a long enough password")).await;
    assert!(!again.status.success());
    assert!(text(&again.stderr).contains("a member of staff named eva exists already"), "{}", text(&again.stderr));
    assert_eq!(app.registry.console().members().await.unwrap().len(), 1);
}

/// On a terminal the password is prompted for twice and not echoed (`script` gives the command
/// a pseudo-terminal; what it prints is what the terminal shows).
#[tokio::test]
async fn on_a_terminal_the_password_is_prompted_for_without_echo() {
    let app = common::spawn_app().await;
    let dir = app.dir.path().to_path_buf();
    let command = common::starmark_command(&dir);
    let binary = command.get_program().to_string_lossy().into_owned();
    let envs: Vec<(String, String)> = command
        .get_envs()
        .filter_map(|(k, v)| Some((k.to_string_lossy().into_owned(), v?.to_string_lossy().into_owned())))
        .collect();
    let output = tokio::task::spawn_blocking(move || {
        use std::io::Write;
        let mut script = Command::new("script");
        script
            .env_clear()
            .envs(envs)
            .args(["-q", "-e", "-c", &format!("{binary} staff add tty.user --role auditor"), "/dev/null"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = match script.spawn() {
            Ok(child) => child,
            Err(e) => panic!("`script` (util-linux, `apt-get install bsdutils`) gives the test a terminal: {e}"),
        };
        let mut stdin = child.stdin.take().unwrap();
        // Typed slowly enough for each prompt to be up.
        std::thread::sleep(std::time::Duration::from_millis(1500));
        stdin.write_all(b"typed on a terminal\n").unwrap();
        std::thread::sleep(std::time::Duration::from_millis(500));
        stdin.write_all(b"typed on a terminal\n").unwrap();
        drop(stdin);
        child.wait_with_output().unwrap()
    })
    .await
    .unwrap();
    let shown = text(&output.stdout);
    assert!(output.status.success(), "{shown}{}", text(&output.stderr));
    assert!(shown.contains("New password:") && shown.contains("Repeat it:"), "{shown}");
    assert!(!shown.contains("typed on a terminal"), "the password was echoed:\n{shown}");
    assert!(shown.contains("added tty.user\tauditor"), "{shown}");
    let response = post_login(&app, "tty.user", "typed on a terminal").await;
    assert_eq!(response.status(), 303);
}
