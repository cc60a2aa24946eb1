//! What every staff console page shows around its own content (`templates/console/layout.html`):
//! the side navigation with only the pages the user's roles open, the current page marked, the
//! address the language switch returns to, and a one-time message after a form.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::response::Response;

use super::{PageUser, Tr};
use crate::http::AppState;
use crate::http::access::CASE_READERS;
use crate::http::auth::{
    Admins, AuditReaders, FinanceReaders, Reviewers1, Reviewers2, RoleSet, Staff,
};
use crate::http::auth::{CurrentUser, Role};

/// A console page and who may open it: the same role sets as the page's own check.
struct Page {
    href: &'static str,
    label: &'static str,
    roles: &'static [Role],
    /// Only this exact address is this page (the console home, not everything below it).
    exact: bool,
}

const fn page(href: &'static str, label: &'static str, roles: &'static [Role]) -> Page {
    Page {
        href,
        label,
        roles,
        exact: false,
    }
}

/// The console's pages, in navigation order.
const PAGES: &[Page] = &[
    Page {
        exact: true,
        ..page("/console", "console.title", Staff::ROLES)
    },
    page("/console/dashboard", "console.dashboard", Staff::ROLES),
    page(
        "/console/review?level=1",
        "review.queue1",
        Reviewers1::ROLES,
    ),
    page(
        "/console/review?level=2",
        "review.queue2",
        Reviewers2::ROLES,
    ),
    page("/console/search", "console.search", CASE_READERS),
    page("/console/support", "support_console.title", CASE_READERS),
    page("/console/slots", "console.slots", Staff::ROLES),
    page("/console/notices", "console.notices", Admins::ROLES),
    page("/console/policy", "review.policy", Admins::ROLES),
    page(
        "/console/hospitals-list",
        "hospitals_list.title",
        Admins::ROLES,
    ),
    page("/console/branding", "branding.title", Admins::ROLES),
    page("/console/people", "staff.title", Admins::ROLES),
    page("/console/blacklist", "blacklist.title", Admins::ROLES),
    page("/console/imports", "console.imports", Admins::ROLES),
    page("/console/reports", "console.reports", FinanceReaders::ROLES),
    page("/console/ledger", "ledger.title", FinanceReaders::ROLES),
    page("/console/payouts", "payouts.title", FinanceReaders::ROLES),
    page("/console/outbox", "console.outbox", Admins::ROLES),
    page("/console/partners", "console.partners", Admins::ROLES),
    page("/console/audit", "console.audit", AuditReaders::ROLES),
];

pub struct NavLink {
    pub href: &'static str,
    pub label: String,
    pub current: bool,
}

/// The frame of a console page; an extractor, so a handler only names it.
pub struct ConsoleFrame {
    pub nav: Vec<NavLink>,
    /// This page's address, percent-encoded for the language switch's `next`.
    pub next: String,
    pub ok: Option<String>,
    pub error: Option<String>,
    /// "University · Office" when the office set it.
    pub org: Option<String>,
}

fn split(url: &str) -> (&str, &str) {
    url.split_once('?').unwrap_or((url, ""))
}

/// `here` (a path with an optional query) is `p`, or a page below it; the query pairs of the
/// page's address (e.g. `level=1`) must all be in `here`'s query.
fn is_at(p: &Page, here: &str) -> bool {
    let (path, query) = split(here);
    let (page_path, page_query) = split(p.href);
    let on_path = path == page_path
        || (!p.exact
            && path
                .strip_prefix(page_path)
                .is_some_and(|rest| rest.starts_with('/')));
    on_path
        && page_query
            .split('&')
            .filter(|pair| !pair.is_empty())
            .all(|pair| query.split('&').any(|q| q == pair))
}

/// `url` without the one-time `ok=`/`error=` message a form left, which should not come
/// back after switching the language.
fn without_flash(url: &str) -> String {
    let (path, query) = split(url);
    let kept: Vec<&str> = query
        .split('&')
        .filter(|p| !p.is_empty() && !p.starts_with("ok=") && !p.starts_with("error="))
        .collect();
    if kept.is_empty() {
        path.to_string()
    } else {
        format!("{path}?{}", kept.join("&"))
    }
}

/// Percent-encodes all but unreserved characters and `/`, for a URL in a query value.
fn encode_component(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

impl ConsoleFrame {
    /// The frame for `user` on the page at `here` (path and query).
    pub fn new(tr: Tr, user: &CurrentUser, here: &str) -> ConsoleFrame {
        let nav = PAGES
            .iter()
            .filter(|p| p.roles.iter().any(|r| user.has(*r)))
            .map(|p| NavLink {
                href: p.href,
                label: tr.t(p.label),
                current: is_at(p, here),
            })
            .collect();
        ConsoleFrame {
            nav,
            next: encode_component(&without_flash(here)),
            ok: None,
            error: None,
            org: None,
        }
    }

    /// Marks `href` as the current page, for pages whose address does not say which entry
    /// they belong to (a case under review belongs to the queue of its level).
    pub fn current(mut self, href: &str) -> ConsoleFrame {
        for link in &mut self.nav {
            link.current = link.href == href;
        }
        self
    }

    /// Where the language switch returns to, when this answer is not at a page's address
    /// (a page shown again after a form post).
    pub fn returning_to(mut self, here: &str) -> ConsoleFrame {
        self.next = encode_component(here);
        self
    }

    pub fn with_ok(mut self, ok: Option<String>) -> ConsoleFrame {
        self.ok = ok;
        self
    }

    pub fn with_error(mut self, error: Option<String>) -> ConsoleFrame {
        self.error = error;
        self
    }
}

impl FromRequestParts<AppState> for ConsoleFrame {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let PageUser(user) = PageUser::from_request_parts(parts, state).await?;
        let here = parts
            .uri
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/console");
        let mut frame = ConsoleFrame::new(Tr::from_parts(parts), &user, here);
        // The header's name is a courtesy: a failed read shows the product's own.
        frame.org = super::brand::load(&state.db.pool)
            .await
            .ok()
            .and_then(|b| b.title());
        Ok(frame)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(roles: &[Role]) -> CurrentUser {
        CurrentUser {
            id: 1,
            username: "u".into(),
            name: "U".into(),
            roles: roles.to_vec(),
            lang: "zh-CN".into(),
            session_id: 1,
            csrf_token: String::new(),
            addr: None,
            reauth_at: None,
        }
    }

    fn hrefs(roles: &[Role], here: &str) -> (Vec<&'static str>, Vec<&'static str>) {
        let f = ConsoleFrame::new(Tr { lang: "en" }, &user(roles), here);
        let all = f.nav.iter().map(|l| l.href).collect();
        let current = f.nav.iter().filter(|l| l.current).map(|l| l.href).collect();
        (all, current)
    }

    #[test]
    fn each_role_sees_only_its_pages() {
        let (r1, _) = hrefs(&[Role::Reviewer1], "/console");
        assert!(r1.contains(&"/console/review?level=1"));
        assert!(!r1.contains(&"/console/review?level=2"));
        assert!(
            !r1.iter()
                .any(|h| h.ends_with("policy") || h.ends_with("ledger"))
        );
        let (finance, _) = hrefs(&[Role::Finance], "/console");
        assert!(finance.contains(&"/console/reports") && finance.contains(&"/console/ledger"));
        assert!(
            !finance
                .iter()
                .any(|h| h.contains("review?") || h.ends_with("partners"))
        );
        let (admin, _) = hrefs(&[Role::Admin], "/console");
        assert_eq!(
            admin.len(),
            PAGES.len() - 2,
            "all but the two review queues"
        );
        let (student, _) = hrefs(&[Role::Student], "/console");
        assert!(student.is_empty());
    }

    #[test]
    fn the_current_page_is_marked_once() {
        let both = [Role::Reviewer1, Role::Reviewer2, Role::Admin];
        assert_eq!(hrefs(&both, "/console").1, ["/console"]);
        assert_eq!(
            hrefs(&both, "/console/review?level=2&cursor=9").1,
            ["/console/review?level=2"]
        );
        assert_eq!(hrefs(&both, "/console/slots/7").1, ["/console/slots"]);
        assert!(hrefs(&both, "/console/review/cases/3").1.is_empty());
        assert!(hrefs(&both, "/console/slotsx").1.is_empty());
    }

    #[test]
    fn the_language_switch_returns_to_the_whole_address() {
        let f = ConsoleFrame::new(
            Tr { lang: "en" },
            &user(&[Role::Finance]),
            "/console/ledger?from=2026-03-01&to=2026-03-31",
        );
        assert_eq!(
            f.next,
            "/console/ledger%3Ffrom%3D2026-03-01%26to%3D2026-03-31"
        );
        let after_form = ConsoleFrame::new(
            Tr { lang: "en" },
            &user(&[Role::Admin]),
            "/console/outbox?status=dead&ok=saved",
        );
        assert_eq!(after_form.next, "/console/outbox%3Fstatus%3Ddead");
    }
}
