//! A real Chromium for the journeys people take, reusable by every context:
//! `Browser::start(base_url, width, height)` runs Debian's `chromedriver` on a free port and
//! opens a headless session with that viewport; `sign_in(username)` logs in through the form.
//! Without Chromium on a laptop the tests skip with a printed reason; with `CI=true` they must
//! run.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use thirtyfour::common::capabilities::chromium::ChromiumLikeCapabilities;
use thirtyfour::common::capabilities::desiredcapabilities::CapabilitiesHelper;
use thirtyfour::prelude::*;

pub struct Browser {
    pub driver: WebDriver,
    pub base: String,
    driver_url: String,
    chromedriver: Child,
    _profile: tempfile::TempDir,
}

fn find_binary(candidates: &[&str]) -> Option<String> {
    candidates
        .iter()
        .find(|p| std::path::Path::new(p).exists())
        .map(|p| p.to_string())
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Browser {
    /// A headless Chromium session with a `width`×`height` viewport against `base` (the app's
    /// address). `None` when Chromium is missing and we are not on CI (the reason is printed).
    pub async fn start(base: &str, width: u32, height: u32) -> Option<Browser> {
        Browser::start_as(base, width, height, None).await
    }

    /// As [`Browser::start`], with another user agent (e.g. WeChat's built-in browser).
    pub async fn start_as(
        base: &str,
        width: u32,
        height: u32,
        user_agent: Option<&str>,
    ) -> Option<Browser> {
        let driver_bin = find_binary(&["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"]);
        let chrome_bin = find_binary(&["/usr/bin/chromium", "/usr/lib/chromium/chromium"]);
        let (Some(driver_bin), Some(chrome_bin)) = (driver_bin, chrome_bin) else {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CI=true but chromium/chromium-driver are not installed"
            );
            eprintln!(
                "SKIPPED browser test: install the Debian packages chromium and chromium-driver"
            );
            return None;
        };
        let port = free_port();
        let chromedriver = Command::new(driver_bin)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let profile = tempfile::tempdir().unwrap();
        let mut caps = DesiredCapabilities::chrome();
        caps.set_binary(&chrome_bin).unwrap();
        for arg in [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            &format!("--user-data-dir={}", profile.path().display()),
            &format!("--window-size={width},{height}"),
        ] {
            caps.add_arg(arg).unwrap();
        }
        if let Some(ua) = user_agent {
            caps.add_arg(&format!("--user-agent={ua}")).unwrap();
        }
        // Keep the console log so tests can assert pages run without JavaScript errors.
        caps.set("goog:loggingPrefs", serde_json::json!({"browser": "ALL"}))
            .unwrap();
        caps.add_experimental_option(
            "mobileEmulation",
            match user_agent {
                Some(ua) => serde_json::json!({"deviceMetrics": {"width": width, "height": height, "pixelRatio": 2.0, "touch": true}, "userAgent": ua}),
                None => serde_json::json!({"deviceMetrics": {"width": width, "height": height, "pixelRatio": 2.0, "touch": true}}),
            },
        )
        .unwrap();
        let url = format!("http://127.0.0.1:{port}");
        let mut last_err = None;
        for _ in 0..100 {
            match WebDriver::new(&url, caps.clone()).await {
                Ok(driver) => {
                    return Some(Browser {
                        driver,
                        base: base.to_string(),
                        driver_url: url,
                        chromedriver,
                        _profile: profile,
                    });
                }
                Err(e) => {
                    last_err = Some(e);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
        panic!("could not start a Chromium session: {last_err:?}");
    }

    pub async fn goto(&self, path: &str) {
        self.driver
            .goto(format!("{}{path}", self.base))
            .await
            .unwrap();
    }

    pub async fn path(&self) -> String {
        self.driver.current_url().await.unwrap().path().to_string()
    }

    pub async fn el(&self, css: &str) -> WebElement {
        self.driver
            .query(By::Css(css))
            .wait(Duration::from_secs(10), Duration::from_millis(50))
            .first()
            .await
            .unwrap_or_else(|e| panic!("no element {css}: {e}"))
    }

    /// Types into a field after clearing it.
    pub async fn fill(&self, css: &str, text: &str) {
        let el = self.el(css).await;
        el.clear().await.unwrap();
        el.send_keys(text).await.unwrap();
    }

    /// Scrolls the element to the middle of the screen (clear of the tab bar) and clicks it.
    /// A page still loading (a redirect in flight) can replace the element between finding and
    /// clicking it: then it is found again, a few times at most.
    pub async fn click(&self, css: &str) {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let el = self.el(css).await;
            let clicked = async {
                self.driver
                    .execute(
                        "arguments[0].scrollIntoView({block: 'center'});",
                        vec![el.to_json()?],
                    )
                    .await?;
                el.click().await
            }
            .await;
            match clicked {
                Ok(()) => return,
                Err(e) if attempt < 6 && replaced_by_navigation(&e.to_string()) => {
                    tokio::time::sleep(std::time::Duration::from_millis(250)).await;
                }
                Err(e) => panic!("clicking {css}: {e}"),
            }
        }
    }

    pub async fn text(&self, css: &str) -> String {
        self.el(css).await.text().await.unwrap()
    }

    pub async fn script(&self, js: &str) -> serde_json::Value {
        self.driver
            .execute(js, Vec::new())
            .await
            .unwrap()
            .json()
            .clone()
    }

    /// Waits until `js` (an expression) is truthy.
    pub async fn wait_for(&self, js: &str) {
        for _ in 0..200 {
            let v = self.script(&format!("return !!({js});")).await;
            if v == serde_json::Value::Bool(true) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("timed out waiting for {js}");
    }

    /// Console errors (uncaught exceptions, failed loads) since the last call, from Chromium's
    /// browser log; refused forms (409/422 pages) are expected and left out.
    pub async fn console_errors(&self) -> Vec<String> {
        let url = format!(
            "{}/session/{}/se/log",
            self.driver_url,
            self.driver.session_id()
        );
        let resp = reqwest::Client::new()
            .post(url)
            .json(&serde_json::json!({"type": "browser"}))
            .send()
            .await
            .expect("read the browser log");
        let body: serde_json::Value = resp.json().await.unwrap_or_default();
        body["value"]
            .as_array()
            .map(|entries| {
                entries
                    .iter()
                    .filter(|e| e["level"] == "SEVERE")
                    // A refused form answers 409 or 422 with a page showing why: intended.
                    .filter(|e| {
                        let m = e["message"].as_str().unwrap_or_default();
                        !(m.contains("status of 409") || m.contains("status of 422"))
                    })
                    .map(|e| e["message"].as_str().unwrap_or_default().to_string())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Runs axe-core (npm `axe-core` from `tests/a11y`, injected into the current page) and
    /// fails listing every `serious` or `critical` violation: rule, impact, the elements
    /// (selectors) and `label`, the page. Without `tests/a11y/node_modules` on a laptop the check
    /// is skipped with a printed reason; with `CI=true` it must run.
    pub async fn assert_accessible(&self, label: &str) {
        let Some(axe) = axe_source() else {
            return;
        };
        self.driver.execute(axe, Vec::new()).await.unwrap();
        let result = self
            .driver
            .execute_async(
                r#"const done = arguments[arguments.length - 1];
                axe.run(document, {resultTypes: ['violations']})
                    .then(r => done({violations: r.violations.map(v => ({
                        id: v.id,
                        impact: v.impact,
                        help: v.help,
                        targets: v.nodes.map(n => n.target.join(' ')),
                    }))}))
                    .catch(e => done({error: String(e)}));"#,
                Vec::new(),
            )
            .await
            .unwrap_or_else(|e| panic!("axe-core on {label}: {e}"));
        let result = result.json();
        assert!(
            result["error"].is_null(),
            "axe-core failed on {label}: {}",
            result["error"]
        );
        let serious: Vec<String> = result["violations"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|v| matches!(v["impact"].as_str(), Some("serious" | "critical")))
            .map(|v| {
                format!(
                    "{} ({}): {} — {}",
                    v["id"].as_str().unwrap_or_default(),
                    v["impact"].as_str().unwrap_or_default(),
                    v["help"].as_str().unwrap_or_default(),
                    v["targets"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|t| t.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })
            .collect();
        assert!(
            serious.is_empty(),
            "axe-core: serious or critical violations on {label}:\n  {}",
            serious.join("\n  ")
        );
    }

    /// Signs in through the login page with the test password.
    pub async fn sign_in(&self, username: &str) {
        self.sign_in_with(username, crate::common::PASSWORD).await;
    }

    /// Signs in through the login page.
    pub async fn sign_in_with(&self, username: &str, password: &str) {
        self.goto("/login").await;
        self.fill("input[name=username]", username).await;
        self.fill("input[name=password]", password).await;
        self.click("button[type=submit]").await;
        for _ in 0..100 {
            if self.path().await != "/login" {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("sign-in as {username} did not leave the login page");
    }

    /// Ends the session and chromedriver.
    pub async fn stop(self) {
        let _ = self.driver.clone().quit().await;
    }
}

impl Drop for Browser {
    /// Also after a failed assertion: end the session (so Chromium exits) with a plain
    /// blocking request, then stop chromedriver.
    fn drop(&mut self) {
        use std::io::{Read, Write};
        let host = self.driver_url.trim_start_matches("http://").to_string();
        let request = format!(
            "DELETE /session/{} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            self.driver.session_id()
        );
        if let Ok(mut stream) = std::net::TcpStream::connect(&host) {
            let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
            if stream.write_all(request.as_bytes()).is_ok() {
                let _ = stream.read_to_end(&mut Vec::new());
            }
        }
        let _ = self.chromedriver.kill();
        let _ = self.chromedriver.wait();
    }
}

/// axe-core's `axe.min.js`, read once; `None` (with the reason printed once) when
/// `tests/a11y` has not been installed and we are not on CI.
fn axe_source() -> Option<&'static str> {
    static SOURCE: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    SOURCE
        .get_or_init(|| {
            let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/a11y/node_modules/axe-core/axe.min.js");
            match std::fs::read_to_string(&path) {
                Ok(source) => Some(source),
                Err(e) => {
                    assert!(
                        std::env::var("CI").as_deref() != Ok("true"),
                        "CI=true but {} is missing ({e}): run `npm ci` in tests/a11y",
                        path.display()
                    );
                    eprintln!(
                        "SKIPPED accessibility check: {} is missing; run `npm ci` in tests/a11y",
                        path.display()
                    );
                    None
                }
            }
        })
        .as_deref()
}

/// What ChromeDriver answers when the element found belonged to a page that a navigation (a
/// redirect, a form post) has since replaced: "stale element reference", or, when the old
/// document is already gone, an inspector error that the node "does not belong to the document".
fn replaced_by_navigation(error: &str) -> bool {
    [
        "stale element",
        "does not belong to the document",
        "detached",
    ]
    .iter()
    .any(|sign| error.contains(sign))
}
