//! Helpers shared by the integration tests.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde_json::Value;

/// The binary under test.
pub fn dataflow() -> Command {
    let mut cmd = Command::cargo_bin("dataflow").expect("binary built");
    cmd.env_remove("RUST_LOG")
        .env_remove("DATAFLOW_PROJECT_DIR")
        .env_remove("DATAFLOW_LOG_FILE")
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .env_remove("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        .env_remove("TRACEPARENT");
    cmd
}

/// The example project's configuration file.
pub fn example_config() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/ecommerce/dataflow.yml")
}

/// A project directory holding the example configuration (optionally edited) and generated data.
pub struct TestProject {
    /// Keeps the directory alive.
    pub dir: tempfile::TempDir,
}

impl TestProject {
    /// A project with the example configuration, edited by `edit`.
    pub fn new(edit: impl Fn(String) -> String) -> TestProject {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = std::fs::read_to_string(example_config()).expect("example config");
        std::fs::write(dir.path().join("dataflow.yml"), edit(config)).expect("write config");
        TestProject { dir }
    }

    /// The project directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Where generated data goes.
    pub fn incoming(&self) -> PathBuf {
        self.path().join("data/incoming")
    }

    /// Runs `dataflow generate` into `data/incoming` and returns the manifest.
    pub fn generate(&self, args: &[&str]) -> Value {
        dataflow()
            .arg("generate")
            .arg("--out")
            .arg(self.incoming())
            .args(args)
            .assert()
            .success();
        let text =
            std::fs::read_to_string(self.incoming().join("manifest.json")).expect("manifest");
        serde_json::from_str(&text).expect("manifest json")
    }

    /// Generates a small data set (100 customers, 500 transactions, 20 products).
    pub fn generate_small(&self) -> Value {
        self.generate(&[
            "--customers",
            "100",
            "--transactions",
            "500",
            "--products",
            "20",
        ])
    }

    /// A `dataflow` command in this project.
    pub fn cmd(&self) -> Command {
        let mut cmd = dataflow();
        cmd.arg("--project-dir").arg(self.path());
        cmd
    }

    /// Runs `dataflow ingest` and asserts success.
    pub fn ingest(&self) -> String {
        let out = self.cmd().arg("ingest").assert().success();
        String::from_utf8_lossy(&out.get_output().stdout).into_owned()
    }

    /// Runs a query and returns the rows as JSON objects.
    pub fn query(&self, sql: &str) -> Vec<Value> {
        let out = self
            .cmd()
            .args(["query", "--format", "json", sql])
            .assert()
            .success();
        String::from_utf8_lossy(&out.get_output().stdout)
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).expect("json row"))
            .collect()
    }

    /// `select count(*)` of a table.
    pub fn count(&self, table: &str) -> u64 {
        let rows = self.query(&format!("select count(*) as n from {table}"));
        rows[0]["n"].as_u64().expect("count")
    }
}

/// A table's entry in the manifest.
pub fn table<'a>(manifest: &'a Value, name: &str) -> &'a Value {
    &manifest["tables"][name]
}

/// A number from the manifest.
pub fn number(value: &Value, key: &str) -> u64 {
    value[key]
        .as_u64()
        .unwrap_or_else(|| panic!("manifest field {key}"))
}

/// Asserts that each source's raw table holds exactly the manifest's loadable rows and its
/// quarantine table exactly the structural defects.
pub fn assert_lake_matches_manifest(project: &TestProject, manifest: &Value, sources: &[&str]) {
    for source in sources {
        let expected = table(manifest, source);
        assert_eq!(
            project.count(&format!("raw_{source}")),
            number(expected, "loadable_rows"),
            "raw_{source}"
        );
        assert_eq!(
            project.count(&format!("quarantine_{source}")),
            number(expected, "structural_defects"),
            "quarantine_{source}"
        );
    }
}

/// The environment variable naming the PostgreSQL server of the tests.
pub const PG_URL_VAR: &str = "DATAFLOW_TEST_POSTGRES_URL";

/// A schema of its own on the test PostgreSQL server, and the URL whose connections use it.
/// The same environment handling and URL form as the orchestrator's tests
/// (`crates/orchestrator/tests/it/common.rs`): skipped with a note when the server is not
/// configured, a failure when `CI=true`.
pub struct PgSchema {
    base: String,
    name: String,
    /// The URL of the schema (`search_path` set through the connection's `options`).
    pub url: String,
}

impl PgSchema {
    /// `None` (with a note) when no server is configured locally; panics when `CI=true`.
    pub fn create() -> Option<PgSchema> {
        let base = match std::env::var(PG_URL_VAR) {
            Ok(url) if !url.trim().is_empty() => url,
            _ if std::env::var("CI").as_deref() == Ok("true") => panic!(
                "{PG_URL_VAR} is not set, and CI=true: the PostgreSQL tests must run in CI \
                 (scripts/test starts a server on loopback and sets it)"
            ),
            _ => {
                eprintln!(
                    "note: {PG_URL_VAR} is not set, so this PostgreSQL test is skipped \
                     (scripts/test starts a server and sets it)"
                );
                return None;
            }
        };
        let name = format!("dataflow_it_{}", uuid::Uuid::new_v4().simple());
        admin_sql(&base, &format!("CREATE SCHEMA {name}"));
        let separator = if base.contains('?') { '&' } else { '?' };
        let url = format!("{base}{separator}options=-c%20search_path%3D{name}");
        Some(PgSchema { base, name, url })
    }

    /// Drops the schema and everything in it (left in place when a test fails, to look at).
    pub fn drop_schema(self) {
        admin_sql(&self.base, &format!("DROP SCHEMA {} CASCADE", self.name));
    }
}

/// Runs one statement on the test server.
fn admin_sql(base: &str, sql: &str) {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
        .block_on(async {
            let db = dataflow_orchestrator::store::Db::connect(base).await?;
            db.execute(sql, &[]).await
        })
        .unwrap_or_else(|e| panic!("{sql} on {PG_URL_VAR}: {e}"));
}

/// A child process (a server a test started) killed and reaped when dropped, so a failing test
/// leaves none behind.
pub struct Killed(pub std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The path of `program` on `PATH`, if it is installed.
pub fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}

/// A loopback port free right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// `GET path` over HTTP/1.0 (so no chunked bodies): (status, body).
pub fn http_get(address: &str, path: &str) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(address).ok()?;
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {address}\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    Some((status, body.to_string()))
}

/// Polls `done` every 100 ms for up to three minutes; panics naming `what` on timeout.
pub fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(180);
    while !done() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// The value of the sample line starting with `series` (name and labels exactly).
pub fn sample(metrics: &str, series: &str) -> Option<f64> {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

/// `promtool check metrics` on a scrape; skipped without promtool, except in CI.
pub fn promtool_accepts(metrics: &str) {
    let child = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(child) => child,
        Err(_) if std::env::var("CI").as_deref() != Ok("true") => {
            eprintln!("note: promtool is not installed; scripts/test installs it");
            return;
        }
        Err(e) => panic!("promtool must run in CI: {e}"),
    };
    use std::io::Write;
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(metrics.as_bytes())
        .expect("write to promtool");
    let out = child.wait_with_output().expect("promtool");
    assert!(
        out.status.success(),
        "promtool check metrics: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
