//! The staff console's one layout: each role's side navigation lists exactly the pages that
//! role may open, every listed page opens and marks itself current, and the language switch
//! comes back to the page it was used on.

use medclaim::http::auth::Role;
use reqwest::StatusCode;

use crate::common::TestApp;
use crate::intake::{page, web_login};

/// The `href`s of the side navigation, and the one marked `aria-current="page"`.
fn nav(html: &str) -> (Vec<String>, Vec<String>) {
    let start = html.find("<nav class=\"side-nav\"").expect("a side nav");
    let block = &html[start..start + html[start..].find("</nav>").unwrap()];
    let (mut all, mut current) = (Vec::new(), Vec::new());
    for link in block.split("<a ").skip(1) {
        let href = link.split("href=\"").nth(1).unwrap();
        let href = href[..href.find('"').unwrap()].to_string();
        if link[..link.find('>').unwrap()].contains("aria-current=\"page\"") {
            current.push(href.clone());
        }
        all.push(href);
    }
    (all, current)
}

#[tokio::test]
async fn each_role_sees_and_opens_exactly_its_pages() {
    let app = TestApp::spawn().await;
    let admin_only = [
        "/console/notices",
        "/console/policy",
        "/console/hospitals-list",
        "/console/branding",
        "/console/people",
        "/console/blacklist",
        "/console/imports",
        "/console/outbox",
        "/console/partners",
    ];
    let cases: [(&str, &[Role], Vec<&str>); 5] = [
        (
            "rev1",
            &[Role::Reviewer1],
            vec![
                "/console",
                "/console/dashboard",
                "/console/review?level=1",
                "/console/search",
                "/console/support",
                "/console/slots",
            ],
        ),
        (
            "rev2",
            &[Role::Reviewer2],
            vec![
                "/console",
                "/console/dashboard",
                "/console/review?level=2",
                "/console/search",
                "/console/support",
                "/console/slots",
            ],
        ),
        (
            "fin",
            &[Role::Finance],
            vec![
                "/console",
                "/console/dashboard",
                "/console/slots",
                "/console/reports",
                "/console/ledger",
                "/console/payouts",
            ],
        ),
        (
            "aud",
            &[Role::Auditor],
            vec![
                "/console",
                "/console/dashboard",
                "/console/slots",
                "/console/audit",
            ],
        ),
        ("adm", &[Role::Admin], {
            let mut v = vec![
                "/console",
                "/console/dashboard",
                "/console/search",
                "/console/support",
                "/console/slots",
                "/console/reports",
                "/console/ledger",
                "/console/payouts",
                "/console/audit",
            ];
            v.extend(admin_only);
            v
        }),
    ];
    for (username, roles, expected) in cases {
        app.create_user(username, username, roles).await;
        let cookie = web_login(&app, username).await;
        let (links, current) = nav(&page(&app, &cookie, "/console").await);
        let mut sorted = links.clone();
        sorted.sort();
        let mut want: Vec<String> = expected.iter().map(|s| s.to_string()).collect();
        want.sort();
        assert_eq!(sorted, want, "{username}'s navigation");
        assert_eq!(current, ["/console"], "{username}");
        for href in &links {
            let html = page(&app, &cookie, href).await;
            assert_eq!(nav(&html).1, vec![href.as_str()], "{username} on {href}");
        }
        // A page left out of the navigation is refused, never shown.
        for hidden in admin_only
            .iter()
            .chain(
                [
                    "/console/ledger",
                    "/console/payouts",
                    "/console/reports",
                    "/console/audit",
                ]
                .iter(),
            )
            .filter(|h| !links.iter().any(|l| l == *h))
        {
            let resp = app
                .client
                .get(app.url(hidden))
                .header(reqwest::header::COOKIE, &cookie)
                .send()
                .await
                .unwrap();
            assert_ne!(resp.status(), StatusCode::OK, "{username} on {hidden}");
        }
    }
}

#[tokio::test]
async fn a_sub_page_marks_its_section_and_the_language_switch_returns_to_it() {
    let app = TestApp::spawn().await;
    app.create_user("adm", "管理员", &[Role::Admin]).await;
    let cookie = web_login(&app, "adm").await;
    let html = page(&app, &cookie, "/console/outbox?status=dead&ok=saved").await;
    assert_eq!(nav(&html).1, ["/console/outbox"]);
    let switch = "/lang/en?next=/console/outbox%3Fstatus%3Ddead";
    assert!(
        html.contains(&format!("href=\"{switch}\"")),
        "the switch keeps the filter, not the one-time message: {html}"
    );
    let resp = app
        .client
        .get(app.url(switch))
        .header(reqwest::header::COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(resp.headers()["location"], "/console/outbox?status=dead");
    let lang = resp
        .headers()
        .get(reqwest::header::SET_COOKIE)
        .unwrap()
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let english = page(
        &app,
        &format!("{cookie}; {lang}"),
        "/console/outbox?status=dead",
    )
    .await;
    assert!(english.contains("<html lang=\"en\">"), "{english}");
    assert!(english.contains("href=\"/lang/zh-CN?next=/console/outbox%3Fstatus%3Ddead\""));
}
