//! What every page's layout needs: the signed-in user, the navigation for their role, flash messages and
//! the unread notification count. It lives with the signed-in user (auth), not in the web plumbing below it.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use tower_sessions::Session;

use super::session::SessionHints;
use super::{CurrentUser, Role};
use crate::state::AppState;
use crate::web::flash::{FLASH_KEY, Flash};
use crate::web::request_ctx;

#[derive(Debug, Clone)]
pub struct NavItem {
    pub href: &'static str,
    pub label: &'static str,
    pub active: bool,
}

#[derive(Debug, Clone, Default)]
pub struct PageCtx {
    pub user: Option<CurrentUser>,
    pub flash: Vec<Flash>,
    pub unread: i64,
    pub request_id: String,
    pub path: String,
    pub nav: Vec<NavItem>,
    /// The demo organisation, where sign-in may run without a second factor: every page says so.
    pub demo_organisation: bool,
    /// The session cookie may go over plain HTTP (`--insecure-cookies`, or the demo on loopback): every page says so.
    pub insecure_cookies: bool,
}

impl PageCtx {
    pub fn user_name(&self) -> &str {
        self.user.as_ref().map(|u| u.name.as_str()).unwrap_or("")
    }
    pub fn role_label(&self) -> &str {
        self.user.as_ref().map(|u| u.role.label()).unwrap_or("")
    }
    pub fn has_role(&self, role: &str) -> bool {
        self.user.as_ref().is_some_and(|u| u.role.as_str() == role)
    }
}

/// The navigation for a role: what that person works on every day, first.
pub fn nav_for(role: Role) -> Vec<(&'static str, &'static str)> {
    match role {
        Role::Lo => vec![
            ("/my-day", "My day"),
            ("/leads", "Leads"),
            ("/pipeline", "Pipeline"),
            ("/tasks", "Tasks"),
            ("/escalations", "Requests"),
            ("/me/metrics", "My numbers"),
            ("/partners", "Partners"),
            ("/portfolio", "Past clients"),
        ],
        Role::Manager => vec![
            ("/dashboard", "Dashboard"),
            ("/availability", "Availability"),
            ("/leads", "Leads"),
            ("/pipeline", "Pipeline"),
            ("/escalations", "Approvals"),
            ("/locks/desk", "Lock desk"),
            ("/departments", "Departments"),
            ("/reports", "Reports"),
            ("/partners", "Partners"),
            ("/portfolio", "Past clients"),
        ],
        Role::Admin => vec![
            ("/admin", "Admin"),
            ("/dashboard", "Dashboard"),
            ("/leads", "Leads"),
            ("/routing/rules", "Routing"),
            ("/admin/pipeline", "Pipeline"),
            ("/admin/sources", "Sources"),
            ("/partners", "Partners"),
            ("/escalations", "Approvals"),
            ("/locks/desk", "Lock desk"),
            ("/admin/departments", "Departments"),
            ("/admin/users", "Users"),
            ("/admin/teams", "Teams"),
            ("/admin/audit", "Audit log"),
            ("/compliance/fair-lending", "Fair lending"),
            ("/admin/messages", "Messages"),
            ("/admin/do-not-call", "Do not call"),
            ("/portfolio", "Past clients"),
        ],
        Role::Lossmit => vec![("/lossmit", "My cases")],
        Role::LossmitSupervisor => {
            vec![
                ("/lossmit/board", "Deadline board"),
                ("/lossmit", "Cases"),
                ("/departments", "Departments"),
                ("/lossmit/reports", "Reports"),
            ]
        }
        Role::Intake => vec![("/account", "Account")],
        Role::Compliance => vec![("/compliance/fair-lending", "Fair lending"), ("/account", "Account")],
        Role::Department => vec![("/departments", "My departments")],
        Role::Marketing => vec![
            ("/dashboard", "Dashboard"),
            ("/reports/spend", "Spend"),
            ("/partners", "Partners"),
            ("/leads", "Leads"),
        ],
    }
}

/// The role's navigation with the page it is on marked: the one entry whose address is the path or, failing
/// that, its longest prefix, so `/admin/users` is "Users", not also "Admin" (screen readers announce each
/// `aria-current="page"` link as the current page).
pub fn nav_items(role: Role, path: &str) -> Vec<NavItem> {
    nav_items_for(role, false, path)
}

/// [`nav_items`] for a person who may also take leads: a producing manager gets their own day and numbers.
pub fn nav_items_for(role: Role, originator: bool, path: &str) -> Vec<NavItem> {
    let leads_here = |href: &str| path == href || (href != "/" && path.starts_with(&format!("{href}/")));
    let mut nav = nav_for(role);
    if role == Role::Manager && originator {
        nav.insert(1, ("/my-day", "My day"));
        nav.insert(2, ("/me/metrics", "My numbers"));
    }
    let current = nav.iter().map(|(href, _)| *href).filter(|href| leads_here(href)).max_by_key(|href| href.len());
    nav.into_iter().map(|(href, label)| NavItem { href, label, active: Some(href) == current }).collect()
}

impl FromRequestParts<AppState> for PageCtx {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let user = CurrentUser::from_request_parts(parts, state).await.ok();
        let hints = parts.extensions.get::<SessionHints>().copied();
        let session = Session::from_request_parts(parts, state).await.ok();
        let mut flash = Vec::new();
        // Reading the session costs a query; the sign-in check already told us whether a flash is waiting.
        let flash_waiting = hints.is_none_or(|h| h.has_flash);
        if let Some(s) = session.as_ref().filter(|_| flash_waiting) {
            // Read first and remove only when there is something: a removal marks the session changed, and
            // a changed session is written back to Postgres at the end of the request.
            if let Ok(Some(list)) = s.get::<Vec<Flash>>(FLASH_KEY).await {
                let _ = s.remove::<Vec<Flash>>(FLASH_KEY).await;
                flash = list;
            }
        }
        let unread = match (&user, hints) {
            (Some(_), Some(h)) => h.unread,
            (Some(u), None) => super::store::unread_count(&state.db, u.id).await.unwrap_or(0),
            (None, _) => 0,
        };
        let path = parts.uri.path().to_string();
        let nav = user.as_ref().map(|u| nav_items_for(u.role, u.originator, &path)).unwrap_or_default();
        let request = request_ctx();
        Ok(PageCtx {
            user,
            flash,
            unread,
            request_id: request.request_id,
            path,
            nav,
            demo_organisation: state.config.demo_organisation,
            insecure_cookies: request.insecure_cookies,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn current(role: Role, path: &str) -> Vec<&'static str> {
        nav_items(role, path).into_iter().filter(|i| i.active).map(|i| i.label).collect()
    }

    #[test]
    fn one_navigation_entry_is_the_current_page() {
        assert_eq!(current(Role::Admin, "/admin/users"), ["Users"]);
        assert_eq!(current(Role::Admin, "/admin/users/42/edit"), ["Users"]);
        assert_eq!(current(Role::Admin, "/admin"), ["Admin"]);
        assert_eq!(current(Role::Admin, "/admin/webhooks"), ["Admin"]);
        assert_eq!(current(Role::LossmitSupervisor, "/lossmit/board"), ["Deadline board"]);
        assert_eq!(current(Role::LossmitSupervisor, "/lossmit/cases/7"), ["Cases"]);
        assert_eq!(current(Role::Lo, "/leads/7"), ["Leads"]);
        assert!(current(Role::Lo, "/account").is_empty());
    }
}
