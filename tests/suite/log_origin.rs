//! The transparency log keeps one name: the origin is fixed in the store the first time it is
//! used, a different configured origin is refused at start, and commands run on other ports
//! (an import without STARMARK_LISTEN, a later serve) sign under the same name, so the audit
//! passes.

use crate::common;

use common::{issue_body, spawn_app_on, starmark_command, test_config, uscc, Backend, TestDatabase};
use starmark::startup::open_registry;

on_each_backend!(a_different_configured_origin_is_refused_at_start, import_then_serve_on_another_port_keep_one_origin);

async fn a_different_configured_origin_is_refused_at_start(backend: Backend) {
    let app = spawn_app_on(backend).await;
    app.issue(&issue_body("SM2026ORIGIN1", "日志名称有限公司", 1)).await;
    assert_eq!(app.registry.log_key().name(), "starmark.test/starmark-log");

    let mut other = app.config.clone();
    other.log_origin = Some("registry.example.cn/starmark-log".into());
    let error = open_registry(&other).await.err().expect("a different origin is refused").to_string();
    assert!(
        error.contains("STARMARK_LOG_ORIGIN is 'registry.example.cn/starmark-log'")
            && error.contains("was named 'starmark.test/starmark-log'"),
        "{error}"
    );

    // The same origin given explicitly is fine; another public URL does not rename the log.
    let mut same = app.config.clone();
    same.log_origin = Some("starmark.test/starmark-log".into());
    assert_eq!(open_registry(&same).await.expect("same origin").log_key().name(), "starmark.test/starmark-log");
    let mut moved = app.config.clone();
    moved.public_url = "https://registry.example.cn".into();
    assert_eq!(open_registry(&moved).await.expect("starts").log_key().name(), "starmark.test/starmark-log");
}

async fn import_then_serve_on_another_port_keep_one_origin(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let database = match backend {
        Backend::Sqlite => None,
        Backend::Postgres => Some(TestDatabase::create().await),
    };
    let command = |args: &[&str], listen: Option<&str>| {
        let mut command = starmark_command(dir.path());
        command.env_remove("STARMARK_LISTEN").args(args);
        if let Some(listen) = listen {
            command.env("STARMARK_LISTEN", listen);
        }
        if let Some(database) = &database {
            command.env("DATABASE_URL", &database.url);
        }
        common::process::output_async(command)
    };
    assert!(command(&["keygen"], None).await.status.success());
    let file = dir.path().join("one.csv");
    std::fs::write(
        &file,
        format!(
            "holder_name,uscc,address,scope,system,commodity,customer\n导入有限公司,{},地址,服务,38,33,24\n",
            uscc(2)
        ),
    )
    .unwrap();
    // Without STARMARK_LISTEN, the first use names the log after the default 127.0.0.1:8080.
    let import = command(&["import", file.to_str().unwrap(), "--quiet"], None).await;
    assert!(import.status.success(), "{}", String::from_utf8_lossy(&import.stderr));

    // The server then runs on another port and another public URL, and writes.
    let mut config = test_config(dir.path());
    config.listen = "127.0.0.1:18099".parse().unwrap();
    config.public_url = "http://127.0.0.1:18099".into();
    config.database_url = database.as_ref().map(|database| database.url.clone());
    let registry = open_registry(&config).await.expect("serve starts");
    assert_eq!(registry.log_key().name(), "127.0.0.1:8080/starmark-log");
    let draft = starmark::registry::parse_csv(
        format!(
            "holder_name,uscc,address,scope,system,commodity,customer\n服务有限公司,{},地址,服务,38,33,24\n",
            uscc(3)
        )
        .as_bytes(),
    )
    .expect("csv")
    .0
    .remove(0)
    .draft;
    registry.issue("test", draft).await.expect("issue");
    drop(registry);

    // The audit, run on that other port too, finds one log under one name.
    let audit = command(&["audit"], Some("127.0.0.1:18099")).await;
    let stdout = String::from_utf8_lossy(&audit.stdout);
    assert!(audit.status.success(), "{stdout}{}", String::from_utf8_lossy(&audit.stderr));
    assert!(stdout.contains("log 127.0.0.1:8080/starmark-log") && stdout.contains("2 log leaves"), "{stdout}");
}
