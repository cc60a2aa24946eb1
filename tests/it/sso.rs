//! Sign-on against real servers (SPEC §13): a CAS 3.0 server (PyPI `django-cas-server`, run
//! with `manage.py runserver` from a Django project generated here), an OpenID provider (npm
//! `oidc-provider`, `tests/sso/provider.mjs`) and, since no WeChat server exists outside
//! WeChat, a local stand-in answering `connect/oauth2/authorize` and `sns/oauth2/access_token`.
//! `.ci/run` installs the servers; without them (and not on CI) the tests skip with a reason.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use medclaim::config::{CasSettings, OidcSettings, SsoSettings, WechatSettings};
use medclaim::http::auth::Role;
use reqwest::StatusCode;
use reqwest::header::LOCATION;

use crate::common::{Options, TestApp};

const WECHAT_UA: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.50(0x1800322c) NetType/WIFI Language/zh_CN";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn ci() -> bool {
    std::env::var("CI").as_deref() == Ok("true")
}

fn skip(what: &str) {
    assert!(!ci(), "CI=true but {what}");
    eprintln!("SKIPPED sign-on test: {what} (run .ci/run to install it)");
}

fn cache_dir() -> PathBuf {
    std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cache"))
        .join("medclaim")
}

/// A client like a browser: keeps cookies, does not follow redirects (the test follows them).
fn browser_client(ua: Option<&str>) -> reqwest::Client {
    let mut b = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none());
    if let Some(ua) = ua {
        b = b.user_agent(ua);
    }
    b.build().unwrap()
}

fn location(resp: &reqwest::Response) -> String {
    resp.headers()
        .get(LOCATION)
        .unwrap_or_else(|| panic!("no Location on {}", resp.status()))
        .to_str()
        .unwrap()
        .to_string()
}

fn absolute(base: &str, loc: &str) -> String {
    if loc.starts_with("http") {
        loc.to_string()
    } else {
        reqwest::Url::parse(base)
            .unwrap()
            .join(loc)
            .unwrap()
            .to_string()
    }
}

/// The first form of an HTML page: its action and its named inputs with their values.
fn form(html: &str) -> (String, HashMap<String, String>) {
    let attr = |tag: &str, name: &str| -> Option<String> {
        let key = format!("{name}=\"");
        let start = tag.find(&key)? + key.len();
        let end = tag[start..].find('"')? + start;
        Some(tag[start..end].replace("&amp;", "&"))
    };
    let form_at = html.find("<form").expect("a form");
    let form_tag = &html[form_at..form_at + html[form_at..].find('>').unwrap()];
    let action = attr(form_tag, "action").unwrap_or_default();
    let mut fields = HashMap::new();
    let mut rest = &html[form_at..];
    while let Some(i) = rest.find("<input") {
        let tag = &rest[i..i + rest[i..].find('>').unwrap()];
        if let Some(name) = attr(tag, "name") {
            fields.insert(name, attr(tag, "value").unwrap_or_default());
        }
        rest = &rest[i + 6..];
    }
    (action, fields)
}

/// Follows redirects until one leaves for `stop_at` (answers that URL) or a page answers.
async fn follow(
    client: &reqwest::Client,
    mut url: String,
    stop_at: &str,
) -> (String, Option<reqwest::Response>) {
    for _ in 0..15 {
        if url.starts_with(stop_at) {
            return (url, None);
        }
        let resp = client.get(&url).send().await.unwrap();
        if resp.status().is_redirection() {
            url = absolute(&url, &location(&resp));
        } else {
            return (url, Some(resp));
        }
    }
    panic!("too many redirects");
}

fn error_code(html: &str) -> String {
    let start = html.find("id=\"sso-code\">").map(|i| i + 14).unwrap_or(0);
    html[start..].split('<').next().unwrap_or("").to_string()
}

async fn audit_summaries(app: &TestApp) -> Vec<String> {
    sqlx::query_scalar("SELECT summary FROM audit_events ORDER BY seq")
        .fetch_all(&app.db.pool)
        .await
        .unwrap()
}

struct Server {
    child: Child,
    _dir: Option<tempfile::TempDir>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn wait_http(url: &str, secs: u64) -> bool {
    let client = reqwest::Client::new();
    for _ in 0..secs * 10 {
        if client.get(url).send().await.is_ok() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

// ---- CAS -------------------------------------------------------------------------------------

const CAS_PASSWORD: &str = "campus-pass-1";

/// Starts django-cas-server with users `users` and a service pattern for `app_base`, whose
/// single logout is posted to `slo`. `None` (after printing why) when it is not installed.
async fn start_cas(app_base: &str, slo: &str, users: &[&str]) -> Option<(Server, String)> {
    let python = std::env::var("MEDCLAIM_CAS_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|_| cache_dir().join("cas-venv/bin/python"));
    let ok = Command::new(&python)
        .args(["-c", "import cas_server"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        skip(&format!(
            "django-cas-server is not installed in {}",
            python.display()
        ));
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("settings.py"),
        r#"SECRET_KEY = "medclaim-test-only"
DEBUG = True
ALLOWED_HOSTS = ["*"]
ROOT_URLCONF = "urls"
INSTALLED_APPS = ["django.contrib.admin", "django.contrib.auth", "django.contrib.contenttypes",
    "django.contrib.sessions", "django.contrib.messages", "django.contrib.staticfiles", "cas_server"]
MIDDLEWARE = ["django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware", "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware", "django.middleware.locale.LocaleMiddleware"]
TEMPLATES = [{"BACKEND": "django.template.backends.django.DjangoTemplates", "APP_DIRS": True,
    "OPTIONS": {"context_processors": ["django.template.context_processors.request",
    "django.contrib.auth.context_processors.auth", "django.contrib.messages.context_processors.messages"]}}]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": "cas.sqlite3"}}
STATIC_URL = "/static/"
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
"#,
    )
    .unwrap();
    std::fs::write(
        d.join("urls.py"),
        "from django.urls import include, path\nurlpatterns = [path('cas/', include(('cas_server.urls', 'cas_server'), namespace='cas_server'))]\n",
    )
    .unwrap();
    std::fs::write(
        d.join("manage.py"),
        "import os, sys\nos.environ.setdefault('DJANGO_SETTINGS_MODULE', 'settings')\nfrom django.core.management import execute_from_command_line\nexecute_from_command_line(sys.argv)\n",
    )
    .unwrap();
    let manage = |args: &[&str]| {
        let out = Command::new(&python)
            .arg("manage.py")
            .args(args)
            .current_dir(d)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "manage.py {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    manage(&["migrate", "-v", "0"]);
    let pattern = format!("^{}/.*", app_base.replace('.', "\\\\."));
    let users_py: Vec<String> = users
        .iter()
        .map(|u| format!("User.objects.create_user({u:?}, password={CAS_PASSWORD:?})"))
        .collect();
    let script = format!(
        "from django.contrib.auth.models import User\nfrom cas_server.models import ServicePattern\n{}\nServicePattern.objects.create(pos=1, name='medclaim', pattern='{pattern}', single_log_out=True, single_log_out_callback={slo:?})\n",
        users_py.join("\n")
    );
    manage(&["shell", "-c", &script]);
    let port = free_port();
    let child = Command::new(&python)
        .args([
            "manage.py",
            "runserver",
            &format!("127.0.0.1:{port}"),
            "--noreload",
        ])
        .current_dir(d)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}/cas");
    let server = Server {
        child,
        _dir: Some(dir),
    };
    assert!(
        wait_http(&format!("{base}/login"), 60).await,
        "CAS server did not start"
    );
    Some((server, base))
}

/// Signs in at the CAS login form the browser was sent to; answers the URL CAS redirects to.
async fn cas_form_sign_in(client: &reqwest::Client, login_url: &str, user: &str) -> String {
    let page = client.get(login_url).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    let (action, mut fields) = form(&html);
    fields.insert("username".into(), user.into());
    fields.insert("password".into(), CAS_PASSWORD.into());
    let action = if action.is_empty() {
        login_url.to_string()
    } else {
        absolute(login_url, &action)
    };
    let resp = client.post(&action).form(&fields).send().await.unwrap();
    assert!(
        resp.status().is_redirection(),
        "CAS login answered {}",
        resp.status()
    );
    absolute(login_url, &location(&resp))
}

async fn cas_app(port: u16, cas: &str, create_students: bool) -> TestApp {
    TestApp::spawn_with(Options {
        port: Some(port),
        sso: SsoSettings {
            cas: Some(CasSettings {
                url: cas.to_string(),
                id_attribute: None,
            }),
            create_students,
            ..Default::default()
        },
        ..Options::default()
    })
    .await
}

#[tokio::test]
async fn cas_sign_in_replay_state_and_single_logout() {
    let port = free_port();
    let app_base = format!("http://127.0.0.1:{port}");
    let Some((_cas, cas)) = start_cas(
        &app_base,
        &format!("{app_base}/auth/cas/logout"),
        &["2023001", "9999999"],
    )
    .await
    else {
        return;
    };
    let app = cas_app(port, &cas, false).await;
    app.create_user("2023001", "张三", &[Role::Student]).await;

    // The login page offers the campus sign-on.
    let login = reqwest::get(app.url("/login"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(login.contains("统一身份认证登录") && login.contains("id=\"sso-cas\""));

    let browser = browser_client(None);
    let resp = browser
        .get(app.url("/auth/cas/login?next=/app"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let to_cas = location(&resp);
    assert!(
        to_cas.starts_with(&format!("{cas}/login?service=")),
        "{to_cas}"
    );
    let back = cas_form_sign_in(&browser, &to_cas, "2023001").await;
    assert!(
        back.starts_with(&format!("{app_base}/auth/cas/callback?ticket=ST-")),
        "{back}"
    );
    let resp = browser.get(&back).send().await.unwrap();
    assert_eq!(
        resp.status(),
        StatusCode::SEE_OTHER,
        "{}",
        resp.text().await.unwrap()
    );
    assert_eq!(location(&resp), "/app");
    let home = browser.get(app.url("/app")).send().await.unwrap();
    assert_eq!(home.status(), StatusCode::OK, "signed in by CAS");
    assert!(
        audit_summaries(&app)
            .await
            .iter()
            .any(|s| s == "web sign-in via cas")
    );

    // The same ticket again, even with a fresh state in the browser: refused.
    let again = browser_client(None);
    again.get(app.url("/auth/cas/login")).send().await.unwrap();
    let resp = again.get(&back).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        error_code(&resp.text().await.unwrap()),
        "sso_invalid_ticket"
    );

    // A callback in a browser that never started a sign-on (no state cookie).
    let stranger = browser_client(None);
    let resp = stranger
        .get(app.url("/auth/cas/callback?ticket=ST-1-forged"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let html = resp.text().await.unwrap();
    assert_eq!(error_code(&html), "sso_state_mismatch");
    assert!(html.contains("这次登录不是在本浏览器中发起的"));

    // A ticket CAS never issued, with a proper state: CAS says no, server to server.
    let forger = browser_client(None);
    forger.get(app.url("/auth/cas/login")).send().await.unwrap();
    let resp = forger
        .get(app.url("/auth/cas/callback?ticket=ST-1-forged"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        error_code(&resp.text().await.unwrap()),
        "sso_invalid_ticket"
    );

    // Never sent to another site after sign-in.
    let b2 = browser_client(None);
    let resp = b2
        .get(app.url("/auth/cas/login?next=//evil.example/x"))
        .send()
        .await
        .unwrap();
    let back = cas_form_sign_in(&b2, &location(&resp), "2023001").await;
    let resp = b2.get(&back).send().await.unwrap();
    assert_eq!(location(&resp), "/");

    // A campus account not on the roster.
    let b3 = browser_client(None);
    let resp = b3.get(app.url("/auth/cas/login")).send().await.unwrap();
    let back = cas_form_sign_in(&b3, &location(&resp), "9999999").await;
    let resp = b3.get(&back).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        error_code(&resp.text().await.unwrap()),
        "sso_unknown_person"
    );

    // Single logout: signing out at CAS ends our session (the CAS server posts logoutRequest).
    let resp = browser.get(format!("{cas}/logout")).send().await.unwrap();
    assert!(resp.status().is_success() || resp.status().is_redirection());
    let mut ended = false;
    for _ in 0..100 {
        let home = browser.get(app.url("/app")).send().await.unwrap();
        if home.status() == StatusCode::SEE_OTHER && location(&home) == "/login" {
            ended = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ended, "the CAS single logout ended our session");
    assert!(
        audit_summaries(&app)
            .await
            .iter()
            .any(|s| s == "single logout via cas")
    );
}

#[tokio::test]
async fn cas_creates_students_only_when_enabled() {
    let port = free_port();
    let app_base = format!("http://127.0.0.1:{port}");
    let Some((_cas, cas)) = start_cas(
        &app_base,
        &format!("{app_base}/auth/cas/logout"),
        &["2024777"],
    )
    .await
    else {
        return;
    };
    let app = cas_app(port, &cas, true).await;
    let browser = browser_client(None);
    let resp = browser
        .get(app.url("/auth/cas/login"))
        .send()
        .await
        .unwrap();
    let back = cas_form_sign_in(&browser, &location(&resp), "2024777").await;
    let resp = browser.get(&back).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let roles: Vec<String> = sqlx::query_scalar(
        "SELECT r.role FROM user_roles r JOIN users u ON u.id = r.user_id WHERE u.username = '2024777'",
    )
    .fetch_all(&app.db.pool)
    .await
    .unwrap();
    assert_eq!(roles, vec!["student".to_string()]);
    // A malformed single-logout request is a 400, an unknown ticket a quiet 200.
    let c = reqwest::Client::new();
    let r = c
        .post(app.url("/auth/cas/logout"))
        .form(&[("logoutRequest", "<x/>")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let slo = "<samlp:LogoutRequest xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\"><samlp:SessionIndex>ST-0-unknown</samlp:SessionIndex></samlp:LogoutRequest>";
    let r = c
        .post(app.url("/auth/cas/logout"))
        .form(&[("logoutRequest", slo)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let home = browser.get(app.url("/app")).send().await.unwrap();
    assert_eq!(
        home.status(),
        StatusCode::OK,
        "an unknown ticket ends no session"
    );
}

// ---- OpenID Connect ----------------------------------------------------------------------------

/// Starts `tests/sso/provider.mjs` for the given redirect URIs; `None` (after printing why)
/// when node or the npm packages are missing.
async fn start_oidc(redirect_uris: &[String]) -> Option<(Server, String)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/sso");
    if !dir.join("node_modules/oidc-provider").exists() {
        skip("npm oidc-provider is not installed (npm ci in tests/sso)");
        return None;
    }
    let port = free_port();
    let child = match Command::new("node")
        .arg("provider.mjs")
        .current_dir(&dir)
        .env("PORT", port.to_string())
        .env("REDIRECT_URI", redirect_uris.join(" "))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
    {
        Ok(c) => c,
        Err(e) => {
            skip(&format!("node cannot run: {e}"));
            return None;
        }
    };
    let issuer = format!("http://127.0.0.1:{port}");
    let server = Server { child, _dir: None };
    assert!(
        wait_http(&format!("{issuer}/.well-known/openid-configuration"), 60).await,
        "OpenID provider did not start"
    );
    Some((server, issuer))
}

async fn oidc_app(port: u16, issuer: &str, client: &str) -> TestApp {
    TestApp::spawn_with(Options {
        port: Some(port),
        sso: SsoSettings {
            oidc: Some(OidcSettings {
                issuer: issuer.to_string(),
                client_id: client.to_string(),
                client_secret: format!("secret-{client}"),
                id_claim: "preferred_username".into(),
            }),
            ..Default::default()
        },
        ..Options::default()
    })
    .await
}

/// Drives the provider's login and consent forms; answers our callback URL with its code.
async fn oidc_provider_sign_in(
    client: &reqwest::Client,
    auth_url: &str,
    app_base: &str,
    user: &str,
) -> String {
    let mut url = auth_url.to_string();
    for step in 0..6 {
        let (at, page) = follow(client, url.clone(), app_base).await;
        let Some(page) = page else {
            return at;
        };
        let html = page.text().await.unwrap();
        let (action, mut fields) = form(&html);
        if fields.get("prompt").map(String::as_str) == Some("login") {
            fields.insert("login".into(), user.into());
            fields.insert("password".into(), "anything".into());
        }
        let resp = client
            .post(absolute(&at, &action))
            .form(&fields)
            .send()
            .await
            .unwrap();
        assert!(
            resp.status().is_redirection(),
            "provider step {step}: {}",
            resp.status()
        );
        url = absolute(&at, &location(&resp));
    }
    panic!("the provider never sent us back");
}

#[tokio::test]
async fn oidc_sign_in_and_every_refusal() {
    let ports: Vec<u16> = (0..5).map(|_| free_port()).collect();
    let redirects: Vec<String> = ports
        .iter()
        .map(|p| format!("http://127.0.0.1:{p}/auth/oidc/callback"))
        .collect();
    let Some((_provider, issuer)) = start_oidc(&redirects).await else {
        return;
    };

    // The honest client: signed in, PKCE and nonce checked by the provider and by us.
    let app = oidc_app(ports[0], &issuer, "medclaim").await;
    app.create_user("2023002", "李四", &[Role::Student]).await;
    let base = app.url("");
    let browser = browser_client(None);
    let resp = browser
        .get(app.url("/auth/oidc/login?next=/app/me"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let auth = location(&resp);
    assert!(
        auth.contains("code_challenge_method=S256") && auth.contains("nonce="),
        "{auth}"
    );
    let back = oidc_provider_sign_in(&browser, &auth, &base, "2023002").await;
    assert!(back.contains("code=") && back.contains("state="), "{back}");
    let resp = browser.get(&back).send().await.unwrap();
    assert_eq!(
        resp.status(),
        StatusCode::SEE_OTHER,
        "{}",
        resp.text().await.unwrap()
    );
    assert_eq!(location(&resp), "/app/me");
    assert_eq!(
        browser
            .get(app.url("/app/me"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    assert!(
        audit_summaries(&app)
            .await
            .iter()
            .any(|s| s == "web sign-in via oidc")
    );

    // The same callback again: its state is used up.
    let resp = browser.get(&back).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        error_code(&resp.text().await.unwrap()),
        "sso_state_mismatch"
    );
    // The same code under a fresh state: refused.
    let replay = browser_client(None);
    let resp = replay
        .get(app.url("/auth/oidc/login"))
        .send()
        .await
        .unwrap();
    let fresh_state = reqwest::Url::parse(&location(&resp))
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .into_owned();
    let code = reqwest::Url::parse(&back)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();
    let resp = replay
        .get(app.url(&format!(
            "/auth/oidc/callback?code={code}&state={fresh_state}"
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(error_code(&resp.text().await.unwrap()), "sso_token_invalid");
    // A wrong state for a flow this browser did start.
    let wrong = browser_client(None);
    wrong.get(app.url("/auth/oidc/login")).send().await.unwrap();
    let resp = wrong
        .get(app.url("/auth/oidc/callback?code=abc&state=not-the-state"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        error_code(&resp.text().await.unwrap()),
        "sso_state_mismatch"
    );

    // Tokens the provider gets wrong: audience, nonce, expiry, signing key.
    for (i, client) in [
        "medclaim-wrong-aud",
        "medclaim-wrong-nonce",
        "medclaim-expired",
        "medclaim-wrong-key",
    ]
    .into_iter()
    .enumerate()
    {
        let app = oidc_app(ports[i + 1], &issuer, client).await;
        app.create_user("2023002", "李四", &[Role::Student]).await;
        let browser = browser_client(None);
        let resp = browser
            .get(app.url("/auth/oidc/login"))
            .send()
            .await
            .unwrap();
        let back = oidc_provider_sign_in(&browser, &location(&resp), &app.url(""), "2023002").await;
        let resp = browser.get(&back).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "{client}");
        let html = resp.text().await.unwrap();
        assert_eq!(error_code(&html), "sso_token_invalid", "{client}");
        assert!(html.contains("无法验证身份提供方的应答"), "{client}");
        let home = browser.get(app.url("/app")).send().await.unwrap();
        assert_eq!(
            home.status(),
            StatusCode::SEE_OTHER,
            "{client}: not signed in"
        );
    }
}

// ---- WeChat (local stand-in) ------------------------------------------------------------------

#[derive(Default)]
struct WechatStandIn {
    /// code → openid, and codes already exchanged.
    codes: HashMap<String, String>,
    used: Vec<String>,
    next: u32,
}

/// The two WeChat endpoints medclaim uses, as documented: the authorize redirect (the user is
/// "the same WeChat" `openid` for the whole test) and the code exchange with errors 40029/40163.
async fn start_wechat(openid: &'static str) -> String {
    use axum::extract::{Query, State};
    use axum::response::{IntoResponse, Redirect};
    type S = Arc<Mutex<WechatStandIn>>;
    async fn authorize(
        State(s): State<S>,
        Query(q): Query<HashMap<String, String>>,
    ) -> axum::response::Response {
        assert_eq!(q.get("scope").map(String::as_str), Some("snsapi_base"));
        assert_eq!(q.get("appid").map(String::as_str), Some("wx-test-app"));
        let code = {
            let mut s = s.lock().unwrap();
            s.next += 1;
            let code = format!("code-{}", s.next);
            s.codes.insert(code.clone(), "OPENID".into());
            code
        };
        let to = format!("{}?code={code}&state={}", q["redirect_uri"], q["state"]);
        Redirect::to(&to).into_response()
    }
    async fn token(
        State(s): State<S>,
        axum::extract::Extension(openid): axum::extract::Extension<&'static str>,
        Query(q): Query<HashMap<String, String>>,
    ) -> axum::Json<serde_json::Value> {
        assert_eq!(q.get("secret").map(String::as_str), Some("wx-test-secret"));
        let code = q.get("code").cloned().unwrap_or_default();
        let mut s = s.lock().unwrap();
        if s.used.contains(&code) {
            return axum::Json(serde_json::json!({"errcode": 40163, "errmsg": "code been used"}));
        }
        if !s.codes.contains_key(&code) {
            return axum::Json(serde_json::json!({"errcode": 40029, "errmsg": "invalid code"}));
        }
        s.used.push(code);
        axum::Json(serde_json::json!({
            "access_token": "ACCESS", "expires_in": 7200, "refresh_token": "REFRESH",
            "openid": openid, "scope": "snsapi_base"
        }))
    }
    let app = axum::Router::new()
        .route("/connect/oauth2/authorize", axum::routing::get(authorize))
        .route("/sns/oauth2/access_token", axum::routing::get(token))
        .layer(axum::Extension(openid))
        .with_state(Arc::new(Mutex::new(WechatStandIn {
            // A code WeChat issued and someone already exchanged: answers 40163.
            codes: HashMap::from([("code-used".to_string(), "OPENID".to_string())]),
            used: vec!["code-used".into()],
            next: 0,
        })));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    base
}

#[tokio::test]
async fn wechat_binds_once_then_signs_in_and_unbinds() {
    let wx = start_wechat("o6_bmjrPTlm6_2sgVt7hMZOPfL2M").await;
    let port = free_port();
    let app = TestApp::spawn_with(Options {
        port: Some(port),
        sso: SsoSettings {
            wechat: Some(WechatSettings {
                appid: "wx-test-app".into(),
                secret: "wx-test-secret".into(),
                oauth_url: wx.clone(),
                api_url: wx.clone(),
            }),
            ..Default::default()
        },
        ..Options::default()
    })
    .await;
    app.create_user("2023003", "王五", &[Role::Student]).await;

    // Inside WeChat the WeChat button is the first.
    let login = browser_client(Some(WECHAT_UA))
        .get(app.url("/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(login.contains("微信登录"));
    let first_button = login.find("class=\"button primary\"").unwrap();
    assert!(
        login[first_button..].starts_with("class=\"button primary\" id=\"sso-wechat\""),
        "{login}"
    );

    // Not bound yet: a clear page, nobody signed in.
    let phone = browser_client(Some(WECHAT_UA));
    let resp = phone
        .get(app.url("/auth/wechat/login"))
        .send()
        .await
        .unwrap();
    let (_, page) = follow(&phone, absolute(&app.url(""), &location(&resp)), "never").await;
    let html = page.unwrap().text().await.unwrap();
    assert!(html.contains("微信还没有绑定"), "{html}");

    // Signed in another way inside WeChat, the round trip binds it.
    let token = app.login("2023003").await;
    let cookies = Arc::new(reqwest::cookie::Jar::default());
    cookies.add_cookie_str(
        &format!("medclaim_session={token}; Path=/"),
        &app.url("/").parse().unwrap(),
    );
    let signed = reqwest::Client::builder()
        .cookie_provider(cookies)
        .user_agent(WECHAT_UA)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let resp = signed
        .get(app.url("/auth/wechat/login?next=/app/me"))
        .send()
        .await
        .unwrap();
    let to_wx = location(&resp);
    assert!(
        to_wx.starts_with(&format!("{wx}/connect/oauth2/authorize?"))
            && to_wx.ends_with("#wechat_redirect")
    );
    let resp = signed
        .get(to_wx.trim_end_matches("#wechat_redirect"))
        .send()
        .await
        .unwrap();
    let back = location(&resp);
    let resp = signed.get(&back).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&resp), "/app/me");

    // Next time WeChat alone signs the student in.
    let next_day = browser_client(Some(WECHAT_UA));
    let resp = next_day
        .get(app.url("/auth/wechat/login?next=/app"))
        .send()
        .await
        .unwrap();
    let (back, _) = follow(
        &next_day,
        absolute(&app.url(""), &location(&resp)),
        &app.url("/auth/wechat/callback"),
    )
    .await;
    let resp = next_day.get(&back).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&resp), "/app");
    let me = next_day
        .get(app.url("/app/me"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(me.contains("id=\"wechat-unbind\""), "我的 offers to unbind");
    assert!(
        audit_summaries(&app)
            .await
            .iter()
            .any(|s| s == "web sign-in via wechat")
    );

    // Codes WeChat refuses, each under a fresh state: 40029 invalid, 40163 already used.
    for code in ["code-999", "code-used"] {
        let jar_state = {
            let resp = next_day
                .get(app.url("/auth/wechat/login"))
                .send()
                .await
                .unwrap();
            reqwest::Url::parse(location(&resp).trim_end_matches("#wechat_redirect"))
                .unwrap()
                .query_pairs()
                .find(|(k, _)| k == "state")
                .unwrap()
                .1
                .into_owned()
        };
        let resp = next_day
            .get(app.url(&format!(
                "/auth/wechat/callback?code={code}&state={jar_state}"
            )))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "{code}");
        assert_eq!(
            error_code(&resp.text().await.unwrap()),
            "sso_invalid_ticket",
            "{code}"
        );
    }
    // Our own record refuses a code presented before, without asking WeChat.
    let replay_state = {
        let resp = next_day
            .get(app.url("/auth/wechat/login"))
            .send()
            .await
            .unwrap();
        reqwest::Url::parse(location(&resp).trim_end_matches("#wechat_redirect"))
            .unwrap()
            .query_pairs()
            .find(|(k, _)| k == "state")
            .unwrap()
            .1
            .into_owned()
    };
    let used_code = reqwest::Url::parse(&back)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();
    let resp = next_day
        .get(app.url(&format!(
            "/auth/wechat/callback?code={used_code}&state={replay_state}"
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);

    // Unbind from 我的: WeChat no longer signs in.
    let csrf_at = me.find("name=\"csrf\" value=\"").unwrap() + 19;
    let csrf = me[csrf_at..].split('"').next().unwrap().to_string();
    let resp = next_day
        .post(app.url("/app/me/wechat/unbind"))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let bound: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM wechat_bindings")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(bound, 0);
    let later = browser_client(Some(WECHAT_UA));
    let resp = later
        .get(app.url("/auth/wechat/login"))
        .send()
        .await
        .unwrap();
    let (_, page) = follow(&later, absolute(&app.url(""), &location(&resp)), "never").await;
    assert!(
        page.unwrap()
            .text()
            .await
            .unwrap()
            .contains("微信还没有绑定")
    );
}

// ---- The whole journey in Chromium at 375×812 ---------------------------------------------------

/// A freshly imported student signs in with "统一身份认证登录" at the campus CAS server and
/// lands on their own cases; the same with the OpenID provider; inside WeChat the campus
/// sign-in binds WeChat once, and the next time "微信登录" alone signs them in.
#[tokio::test]
async fn browser_campus_sign_on_and_wechat() {
    let port = free_port();
    let app_base = format!("http://127.0.0.1:{port}");
    let Some((_cas, cas)) = start_cas(
        &app_base,
        &format!("{app_base}/auth/cas/logout"),
        &["2023010"],
    )
    .await
    else {
        return;
    };
    let Some((_provider, issuer)) = start_oidc(&[format!("{app_base}/auth/oidc/callback")]).await
    else {
        return;
    };
    let wx = start_wechat("o-browser-openid").await;
    let app = TestApp::spawn_with(Options {
        port: Some(port),
        sso: SsoSettings {
            cas: Some(CasSettings {
                url: cas.clone(),
                id_attribute: None,
            }),
            oidc: Some(OidcSettings {
                issuer: issuer.clone(),
                client_id: "medclaim".into(),
                client_secret: "secret-medclaim".into(),
                id_claim: "preferred_username".into(),
            }),
            wechat: Some(WechatSettings {
                appid: "wx-test-app".into(),
                secret: "wx-test-secret".into(),
                oauth_url: wx.clone(),
                api_url: wx.clone(),
            }),
            ..Default::default()
        },
        ..Options::default()
    })
    .await;
    app.create_user("2023010", "赵六", &[Role::Student]).await;

    // CAS, in an ordinary phone browser.
    let Some(b) = crate::browser::Browser::start(&app.addr, 375, 812).await else {
        return;
    };
    b.goto("/login").await;
    assert_eq!(b.text("#sso-cas").await, "统一身份认证登录");
    b.click("#sso-cas").await;
    b.fill("input[name=username]", "2023010").await;
    b.fill("input[name=password]", CAS_PASSWORD).await;
    b.click("form [type=submit]").await;
    b.wait_for("location.pathname.startsWith('/app')").await;
    assert!(
        b.driver
            .current_url()
            .await
            .unwrap()
            .as_str()
            .starts_with(&app_base)
    );
    b.stop().await;

    // OpenID Connect, in a fresh browser.
    let b = crate::browser::Browser::start(&app.addr, 375, 812)
        .await
        .unwrap();
    b.goto("/login").await;
    b.click("#sso-oidc").await;
    b.fill("input[name=login]", "2023010").await;
    b.fill("input[name=password]", "anything").await;
    b.click("button.login-submit").await;
    // The consent page ("Continue") is a new document: wait for it rather than finding the
    // sign-in page's button again while the form post is in flight.
    b.wait_for("document.querySelector('input[name=prompt][value=consent]')")
        .await;
    b.click("button.login-submit").await;
    b.wait_for("location.pathname.startsWith('/app')").await;
    assert!(
        b.driver
            .current_url()
            .await
            .unwrap()
            .as_str()
            .starts_with(&app_base)
    );
    b.stop().await;

    // Inside WeChat: the campus sign-in binds WeChat on the way...
    let b = crate::browser::Browser::start_as(&app.addr, 375, 812, Some(WECHAT_UA))
        .await
        .unwrap();
    b.goto("/login").await;
    let first: String = b
        .script("return document.querySelector('.sso-buttons a').id;")
        .await
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        first, "sso-wechat",
        "inside WeChat the WeChat button comes first"
    );
    b.click("#sso-cas").await;
    b.fill("input[name=username]", "2023010").await;
    b.fill("input[name=password]", CAS_PASSWORD).await;
    b.click("form [type=submit]").await;
    b.wait_for("location.pathname.startsWith('/app')").await;
    let bound: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM wechat_bindings")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(
        bound, 1,
        "WeChat bound after the campus sign-in inside WeChat"
    );
    // ...and the next time "微信登录" alone signs in, nothing typed.
    b.driver.delete_cookie("medclaim_session").await.unwrap();
    b.goto("/login").await;
    assert_eq!(b.text("#sso-wechat").await, "微信登录");
    b.click("#sso-wechat").await;
    b.wait_for("location.pathname.startsWith('/app')").await;
    // Only our own pages count: the campus CAS server's login page asks for its CDN assets,
    // which this offline machine cannot reach.
    let ours = app.url("/");
    let errors: Vec<String> = b
        .console_errors()
        .await
        .into_iter()
        .filter(|e| e.starts_with(&ours))
        .collect();
    assert!(errors.is_empty(), "browser console errors: {errors:?}");
    b.stop().await;
    assert!(
        audit_summaries(&app)
            .await
            .iter()
            .any(|s| s == "web sign-in via wechat")
    );
}
