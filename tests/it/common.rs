//! Test harness: the application on port 0 with a fresh database per test — a temporary SQLite
//! file, or a new PostgreSQL database when `MEDCLAIM_TEST_DATABASE_URL` is set — spoken to
//! over HTTP.

use std::path::PathBuf;

use medclaim::accounts::domain::hash_password;
use medclaim::accounts::store::{self, NewUser};
use medclaim::crypto::Keys;
use medclaim::db::Db;
use medclaim::http::auth::Role;
use medclaim::{Application, Settings};
use reqwest::{Method, StatusCode};
use serde_json::Value;

pub const PASSWORD: &str = "correct horse battery";

/// The keys of [`Keys::for_tests`], as the `medclaim` binary reads them from its environment.
pub const DATA_KEY: &str = "BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=";
pub const INDEX_KEY: &str = "CQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQk=";

pub struct TestApp {
    pub addr: String,
    pub db: Db,
    pub keys: Keys,
    pub database_url: String,
    pub data_dir: PathBuf,
    pub client: reqwest::Client,
    /// The running application's state (to build a worker that a test ticks by hand).
    pub state: medclaim::http::AppState,
    _dir: tempfile::TempDir,
}

/// A fresh database URL: SQLite in `dir`, or a new database on the PostgreSQL server named by
/// `MEDCLAIM_TEST_DATABASE_URL`.
pub async fn fresh_database_url(dir: &std::path::Path) -> String {
    match std::env::var("MEDCLAIM_TEST_DATABASE_URL") {
        Ok(base) if !base.is_empty() => {
            let admin = Db::connect(&base)
                .await
                .expect("connect to MEDCLAIM_TEST_DATABASE_URL");
            let name = format!("medclaim_t_{}", hex_id());
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .execute(&admin.pool)
                .await
                .expect("create test database");
            admin.close().await;
            let after_scheme = base.find("://").map(|i| i + 3).unwrap_or(0);
            let path_start = base[after_scheme..]
                .find('/')
                .map(|i| i + after_scheme)
                .unwrap_or(base.len());
            let query = base.find('?').map(|q| &base[q..]).unwrap_or("");
            format!("{}/{name}{query}", &base[..path_start])
        }
        _ => Db::sqlite_url(dir),
    }
}

fn hex_id() -> String {
    let n: u64 = rand_u64();
    format!("{n:016x}")
}

fn rand_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos(),
    );
    h.finish()
}

/// A change to the settings before the app starts.
pub type Configure = Box<dyn FnOnce(&mut Settings) + Send>;

pub struct Options {
    pub login_per_minute: u32,
    /// Run the outbox worker in the background (off: the test ticks a worker itself).
    pub outbox_worker: bool,
    /// Sign-on providers; with any, the app listens on `port` and `MEDCLAIM_PUBLIC_URL` is
    /// `http://127.0.0.1:<port>`.
    pub sso: medclaim::config::SsoSettings,
    pub port: Option<u16>,
    /// Insurer URLs as in production: `https` and public addresses only (off: the stand-in
    /// insurers on `http://127.0.0.1` may be registered).
    pub strict_partner_urls: bool,
    /// Any other setting, changed before the app starts.
    pub configure: Option<Configure>,
    /// Where uploads go (default: the data directory).
    pub storage: Option<medclaim::config::StorageSettings>,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            login_per_minute: 10_000,
            outbox_worker: true,
            sso: Default::default(),
            port: None,
            strict_partner_urls: false,
            configure: None,
            storage: None,
        }
    }
}

impl TestApp {
    pub async fn spawn() -> TestApp {
        TestApp::spawn_with(Options::default()).await
    }

    pub async fn spawn_with(options: Options) -> TestApp {
        let dir = tempfile::tempdir().expect("temp dir");
        let database_url = fresh_database_url(dir.path()).await;
        let mut settings = Settings::new(dir.path().to_path_buf());
        settings.database_url = Some(database_url.clone());
        settings.bind = format!("127.0.0.1:{}", options.port.unwrap_or(0))
            .parse()
            .unwrap();
        settings.sso = options.sso;
        if let Some(port) = options.port {
            settings.sso.public_url = Some(format!("http://127.0.0.1:{port}"));
        }
        settings.login_per_minute = options.login_per_minute;
        settings.notify.worker = options.outbox_worker;
        settings.partner_urls = medclaim::registry::UrlPolicy {
            allow_http: !options.strict_partner_urls,
            allow_private: !options.strict_partner_urls,
        };
        if let Some(storage) = options.storage {
            settings.storage = storage;
        }
        if let Some(configure) = options.configure {
            configure(&mut settings);
        }
        let db = Db::connect(&database_url).await.expect("connect");
        medclaim::db::migrate(&db).await.expect("migrate");
        let keys = Keys::for_tests();
        let app = Application::build_with(settings, db.clone(), keys.clone())
            .await
            .expect("build app");
        let addr = format!("http://127.0.0.1:{}", app.port());
        let state = app.state().clone();
        tokio::spawn(app.run_until_stopped());
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        TestApp {
            addr,
            db,
            keys,
            database_url,
            data_dir: dir.path().to_path_buf(),
            client,
            state,
            _dir: dir,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.addr, path)
    }

    /// Creates a user with `roles` and the password [`PASSWORD`]; answers the user id.
    pub async fn create_user(&self, username: &str, name: &str, roles: &[Role]) -> i64 {
        let hash = hash_password(PASSWORD.to_string()).await.unwrap();
        let mut tx = self.db.begin().await.unwrap();
        let user = NewUser {
            username: username.into(),
            name: name.into(),
            class_name: Some("2024级1班".into()),
            phone: medclaim::accounts::domain::Phone::parse("13800138000").ok(),
            id_number: medclaim::accounts::domain::IdNumber::parse("11010519491231002X").ok(),
            enrolment_status: "enrolled".into(),
            password_hash: Some(hash),
            roles: roles.to_vec(),
        };
        let id = store::insert_user(&mut tx, &self.keys, &user)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        id
    }

    /// Signs in over the API; answers the bearer token.
    pub async fn login(&self, username: &str) -> String {
        let (status, body) = self
            .call(
                Method::POST,
                "/api/v1/auth/login",
                None,
                Some(serde_json::json!({"username": username, "password": PASSWORD})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "login {username}: {body}");
        body["token"].as_str().unwrap().to_string()
    }

    /// A new user with `roles`, signed in; answers (user id, token).
    pub async fn user_with(&self, username: &str, roles: &[Role]) -> (i64, String) {
        let id = self.create_user(username, username, roles).await;
        (id, self.login(username).await)
    }

    /// Sends a JSON request; answers the status and the parsed body (`Null` when empty or not JSON).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self.client.request(method, self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    pub async fn get(&self, path: &str, token: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(token), Some(body)).await
    }

    /// Fetches a page as a browser does, with `cookie` (e.g. `medclaim_session=…`); answers the
    /// status and the HTML.
    pub async fn page(&self, cookie: &str, path: &str) -> (StatusCode, String) {
        let resp = self
            .client
            .get(self.url(path))
            .header(reqwest::header::COOKIE, cookie)
            .send()
            .await
            .expect("request");
        (resp.status(), resp.text().await.unwrap_or_default())
    }

    /// Runs the `medclaim` binary against this app's data directory and database, beside the
    /// running server. Awaited, never blocking: the server runs on this test's runtime, and a
    /// test thread blocked on the child would stall a server transaction holding SQLite's write
    /// lock, so the command would wait out the busy timeout and fail with "database is locked".
    pub async fn cli(&self, args: &[&str], stdin: Option<&str>) -> std::process::Output {
        run_cli(&self.data_dir, &self.database_url, args, stdin).await
    }
}

pub async fn run_cli(
    data_dir: &std::path::Path,
    database_url: &str,
    args: &[&str],
    stdin: Option<&str>,
) -> std::process::Output {
    run_cli_env(data_dir, database_url, args, stdin, &[]).await
}

/// [`run_cli`] with more environment variables. The child is waited for on the blocking pool,
/// so a server spawned on the test's runtime keeps answering meanwhile.
pub async fn run_cli_env(
    data_dir: &std::path::Path,
    database_url: &str,
    args: &[&str],
    stdin: Option<&str>,
    envs: &[(&str, &str)],
) -> std::process::Output {
    let data_dir = data_dir.to_path_buf();
    let database_url = database_url.to_string();
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let stdin = stdin.map(str::to_string);
    let envs: Vec<(String, String)> = envs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    tokio::task::spawn_blocking(move || {
        run_cli_blocking(&data_dir, &database_url, &args, stdin.as_deref(), &envs)
    })
    .await
    .expect("medclaim runner")
}

fn run_cli_blocking(
    data_dir: &std::path::Path,
    database_url: &str,
    args: &[String],
    stdin: Option<&str>,
    envs: &[(String, String)],
) -> std::process::Output {
    use std::io::Write;
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_medclaim"));
    cmd.envs(envs.iter().map(|(k, v)| (k, v)));
    cmd.args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .env("DATABASE_URL", database_url)
        .env("MEDCLAIM_DATA_KEY", DATA_KEY)
        .env("MEDCLAIM_INDEX_KEY", INDEX_KEY)
        .env("RUST_LOG", "warn")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().expect("run medclaim");
    {
        let mut input = child.stdin.take().unwrap();
        if let Some(s) = stdin {
            input.write_all(s.as_bytes()).unwrap();
        }
    }
    child.wait_with_output().expect("wait for medclaim")
}

/// Asserts an error answer: status and stable code.
#[track_caller]
pub fn assert_error(got: &(StatusCode, Value), status: StatusCode, code: &str) {
    assert_eq!(got.0, status, "body: {}", got.1);
    assert_eq!(got.1["error"]["code"], code, "body: {}", got.1);
}
