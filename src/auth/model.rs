//! Roles, the signed-in user, and the one scoping rule that decides what each user sees.

use serde::Serialize;
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, sqlx::Type, utoipa::ToSchema)]
#[sqlx(type_name = "text", rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Admin,
    Manager,
    Lo,
    Lossmit,
    LossmitSupervisor,
    Intake,
    /// Marketing: organisation-wide funnels and ROI by source and campaign, spend entry; never a borrower's
    /// name or contact details.
    Marketing,
    /// Compliance: the fair-lending analysis (race and ethnicity proxies, HMDA demographics) and nothing of the
    /// daily work; no lead is theirs to open.
    Compliance,
    /// Only a department's member (underwriting, compliance, legal…, issue 26): sees the items forwarded to
    /// their departments and nothing else — no lead, no list, no figures.
    Department,
}

impl Role {
    pub const ALL: [Role; 9] = [
        Role::Admin,
        Role::Manager,
        Role::Lo,
        Role::Lossmit,
        Role::LossmitSupervisor,
        Role::Intake,
        Role::Marketing,
        Role::Compliance,
        Role::Department,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Manager => "manager",
            Role::Lo => "lo",
            Role::Lossmit => "lossmit",
            Role::LossmitSupervisor => "lossmit_supervisor",
            Role::Intake => "intake",
            Role::Marketing => "marketing",
            Role::Compliance => "compliance",
            Role::Department => "department",
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            Role::Admin => "Administrator",
            Role::Manager => "Production manager",
            Role::Lo => "Loan officer",
            Role::Lossmit => "Loss-mitigation specialist",
            Role::LossmitSupervisor => "Loss-mitigation supervisor",
            Role::Intake => "Lead intake (integration)",
            Role::Marketing => "Marketing",
            Role::Compliance => "Compliance officer",
            Role::Department => "Department member",
        }
    }
    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }
    /// Where this role lands after sign-in.
    pub fn home(self) -> &'static str {
        match self {
            Role::Admin => "/admin",
            Role::Manager => "/dashboard",
            Role::Lo => "/my-day",
            Role::Lossmit => "/lossmit",
            Role::LossmitSupervisor => "/lossmit/board",
            Role::Intake => "/account",
            Role::Marketing => "/dashboard",
            Role::Compliance => "/compliance/fair-lending",
            Role::Department => "/departments",
        }
    }
}

/// The caller of a request, from a session or an API token.
#[derive(Debug, Clone, Serialize)]
pub struct CurrentUser {
    pub id: Uuid,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub team_id: Option<Uuid>,
    /// Teams this user manages (managers; empty otherwise).
    pub managed_team_ids: Vec<Uuid>,
    /// Takes leads: an LO, or a manager who also originates (in rotations, with a status, their own numbers).
    pub originator: bool,
    pub via_token: bool,
    /// The API token the request came with (None for a browser session or a job).
    pub token: Option<TokenGrant>,
}

/// The scopes a token can carry.
pub const TOKEN_SCOPES: [&str; 4] = ["leads:write", "read", "full", "metrics"];

/// What an API token may do. A token acts as its person, inside that person's scope, and only where its own
/// scopes allow: `leads:write` (a lead vendor: create leads), `read` (GET the API), `full` (the whole API),
/// `metrics` (`GET /metrics`). It never opens an HTML page.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct TokenGrant {
    pub id: Uuid,
    pub scopes: Vec<String>,
    /// Who issued it (None for tokens older than issuers being recorded).
    pub issued_by: Option<Uuid>,
}

impl TokenGrant {
    /// Whether this token may make `method path`.
    pub fn allows(&self, method: &axum::http::Method, path: &str) -> bool {
        use axum::http::Method;
        let read = *method == Method::GET || *method == Method::HEAD;
        if path == "/metrics" {
            return read && self.scopes.iter().any(|s| s == "metrics");
        }
        if !path.starts_with("/api/") {
            return false;
        }
        self.scopes.iter().any(|s| match s.as_str() {
            "full" => true,
            "read" => read,
            "leads:write" => (*method == Method::POST && path == "/api/v1/leads") || (read && path == "/api/v1/me"),
            _ => false,
        })
    }
}

/// What a user may see and change. Built in one place ([`CurrentUser::scope`]) and rendered both as a Rust
/// check ([`Scope::allows_lead`]) and as SQL ([`Scope::push_lead_predicate`]): every lead query composes it,
/// so a missing check fails closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    /// Everything (admins).
    pub all: bool,
    /// Leads assigned to this LO.
    pub lo_id: Option<Uuid>,
    /// Leads of these teams, assigned or waiting in the team's queue (managers).
    pub team_ids: Vec<Uuid>,
    /// Leads in the organisation-wide unassigned queue (managers).
    pub unassigned_queue: bool,
}

impl Scope {
    pub fn nothing() -> Self {
        Scope { all: false, lo_id: None, team_ids: vec![], unassigned_queue: false }
    }

    /// One LO's own records only (a person's own numbers, whatever their role).
    pub fn own(lo: Uuid) -> Self {
        Scope { all: false, lo_id: Some(lo), team_ids: vec![], unassigned_queue: false }
    }

    /// One team's records only (team medians shown to its members).
    pub fn team(team: Uuid) -> Self {
        Scope { all: false, lo_id: None, team_ids: vec![team], unassigned_queue: false }
    }

    pub fn allows_lead(&self, assigned_lo: Option<Uuid>, team_id: Option<Uuid>) -> bool {
        self.all
            || (assigned_lo.is_some() && assigned_lo == self.lo_id)
            || team_id.is_some_and(|t| self.team_ids.contains(&t))
            || (self.unassigned_queue && assigned_lo.is_none() && team_id.is_none())
    }

    /// The LO whose own leads are all this scope covers (an LO's lead scope), if that is what it is.
    pub fn only_lo(&self) -> Option<Uuid> {
        self.lo_id.filter(|_| !self.all && self.team_ids.is_empty() && !self.unassigned_queue)
    }

    /// Whether a portfolio loan or opportunity owned by `lo` in `team` is visible: the lead rule without the
    /// organisation-wide queue (a closed loan always belongs to someone or to a team).
    pub fn allows_loan(&self, lo: Option<Uuid>, team_id: Option<Uuid>) -> bool {
        self.all || (lo.is_some() && lo == self.lo_id) || team_id.is_some_and(|t| self.team_ids.contains(&t))
    }

    /// "Manages this LO's team": the team is one the scope covers by management (admins: every team). An LO's
    /// own scope covers no team, so this is false for LOs, loss-mitigation and intake users.
    pub fn covers_team(&self, team: Option<Uuid>) -> bool {
        self.all || self.manages_team(team)
    }

    /// Whether this scope covers the person `officer` of `team`: their team is covered, or they are the scope's own
    /// LO. Over a metrics scope, whose figures about an LO (the dashboard's availability row and the records
    /// behind it) the viewer reads.
    pub fn covers_officer(&self, officer: Uuid, team: Option<Uuid>) -> bool {
        self.covers_team(team) || self.lo_id == Some(officer)
    }

    /// Whether `team` is one of the teams this scope manages (not merely seen through the admin's `all`).
    pub fn manages_team(&self, team: Option<Uuid>) -> bool {
        team.is_some_and(|t| self.team_ids.contains(&t))
    }

    /// Renders `AND (<owner predicate>)` over any pair of owner columns; every public renderer is one use of it.
    ///
    /// The LO and team ids are read through `(SELECT $n)`, which the planner treats as unknown when it plans: the
    /// plan for one LO is then the plan for any LO, so PostgreSQL keeps the statement's generic plan instead of
    /// planning it again for every request (an LO with many leads made each custom plan look cheaper than the
    /// generic one; at 1M leads that planning cost more than running the list). The index is used all the same.
    fn push_owner_predicate(
        &self,
        qb: &mut sqlx::QueryBuilder<'_, sqlx::Postgres>,
        lo_col: &str,
        team_col: &str,
        with_queue: bool,
    ) {
        if self.all {
            return;
        }
        qb.push(" AND (false");
        if let Some(lo) = self.lo_id {
            qb.push(format_args!(" OR {lo_col} = (SELECT ")).push_bind(lo).push("::uuid)");
        }
        if !self.team_ids.is_empty() {
            qb.push(format_args!(" OR {team_col} = ANY((SELECT ")).push_bind(self.team_ids.clone()).push(")::uuid[])");
        }
        if with_queue && self.unassigned_queue {
            qb.push(format_args!(" OR ({lo_col} IS NULL AND {team_col} IS NULL)"));
        }
        qb.push(")");
    }

    /// Appends ` AND (<who may see the lead>)` for the lead table aliased `alias`.
    pub fn push_lead_predicate(&self, qb: &mut sqlx::QueryBuilder<'_, sqlx::Postgres>, alias: &str) {
        self.push_owner_predicate(qb, &format!("{alias}.assigned_lo_id"), &format!("{alias}.team_id"), true);
    }

    /// The lead rule over metrics contribution rows (columns `lo_id`, `team_id`), so every figure a user reads
    /// counts exactly the leads the same scope would list.
    pub fn push_contribution_predicate(&self, qb: &mut sqlx::QueryBuilder<'_, sqlx::Postgres>) {
        self.push_owner_predicate(qb, "lo_id", "team_id", true);
    }

    /// Appends ` AND (<who may see it>)` for a portfolio loan or opportunity aliased `alias` (columns `lo_id`,
    /// `team_id`): the SQL form of [`Scope::allows_loan`].
    pub fn push_loan_predicate(&self, qb: &mut sqlx::QueryBuilder<'_, sqlx::Postgres>, alias: &str) {
        self.push_owner_predicate(qb, &format!("{alias}.lo_id"), &format!("{alias}.team_id"), false);
    }

    /// Appends ` AND (<the people this scope covers>)` for the users table aliased `alias`: the user themself and
    /// the members of the teams they manage (admins: everyone) — "manages this LO's team" in SQL.
    pub fn push_roster_predicate(&self, qb: &mut sqlx::QueryBuilder<'_, sqlx::Postgres>, alias: &str) {
        self.push_owner_predicate(qb, &format!("{alias}.id"), &format!("{alias}.team_id"), false);
    }

    /// The scope as bind values for compile-checked lead queries, which use the canonical predicate
    /// `($1 OR l.assigned_lo_id = $2 OR l.team_id = ANY($3) OR ($4 AND l.assigned_lo_id IS NULL AND l.team_id IS NULL))`
    /// (parameter numbers shifted as the query needs, text otherwise verbatim; `tests/architecture_scope.rs`
    /// accepts only these canonical forms outside `src/auth`).
    pub fn binds(&self) -> (bool, Option<Uuid>, Vec<Uuid>, bool) {
        (self.all, self.lo_id, self.team_ids.clone(), self.unassigned_queue)
    }

    /// Bind values for compile-checked queries over the unassigned queues the scope sees (its teams' queues, and
    /// the organisation's when `unassigned_queue`), canonical predicate
    /// `l.assigned_lo_id IS NULL AND ($1 OR l.team_id = ANY($2) OR ($3 AND l.team_id IS NULL))`.
    pub fn queue_binds(&self) -> (bool, Vec<Uuid>, bool) {
        (self.all, self.team_ids.clone(), self.unassigned_queue)
    }

    /// Bind values for compile-checked queries over the people the scope covers (see
    /// [`Scope::push_roster_predicate`]), canonical predicate `($1 OR u.id = $2 OR u.team_id = ANY($3))`.
    pub fn roster_binds(&self) -> (bool, Option<Uuid>, Vec<Uuid>) {
        (self.all, self.lo_id, self.team_ids.clone())
    }
}

/// The signed-in user as the audit log names them (with the token they used, if any).
impl crate::audit::Acts for CurrentUser {
    fn actor(&self) -> crate::audit::Actor<'_> {
        crate::audit::Actor {
            id: self.id,
            label: &self.email,
            token_id: self.token.as_ref().map(|t| t.id),
            token_issued_by: self.token.as_ref().and_then(|t| t.issued_by),
        }
    }
}

#[cfg(test)]
impl CurrentUser {
    /// An LO named Ann, for the auth caches' unit tests.
    pub(crate) fn example(id: Uuid, via_token: bool) -> CurrentUser {
        CurrentUser {
            id,
            email: "ann@example.com".into(),
            name: "Ann".into(),
            role: Role::Lo,
            team_id: None,
            managed_team_ids: vec![],
            originator: true,
            via_token,
            token: None,
        }
    }
}

impl CurrentUser {
    /// The one scoping function for leads.
    pub fn scope(&self) -> Scope {
        match self.role {
            Role::Admin => Scope { all: true, lo_id: None, team_ids: vec![], unassigned_queue: true },
            Role::Manager => Scope {
                all: false,
                lo_id: Some(self.id),
                team_ids: self.managed_team_ids.clone(),
                unassigned_queue: true,
            },
            Role::Lo => Scope { all: false, lo_id: Some(self.id), team_ids: vec![], unassigned_queue: false },
            // Marketing opens no lead: its lead list is the anonymous one (`lead_list_scope`).
            Role::Lossmit
            | Role::LossmitSupervisor
            | Role::Intake
            | Role::Marketing
            | Role::Compliance
            | Role::Department => Scope::nothing(),
        }
    }

    /// Whether this user may see who a borrower is (name, phone, email). Marketing reads figures and the
    /// anonymous lead lists behind them only.
    pub fn sees_borrowers(&self) -> bool {
        self.role != Role::Marketing
    }

    /// The scope of the lead list (page, API, count) — the user's lead scope, except for marketing, whose list
    /// covers what their figures cover (every lead) with the borrowers' names and contact details left out.
    pub fn lead_list_scope(&self) -> Scope {
        match self.role {
            Role::Marketing => Scope { all: true, lo_id: None, team_ids: vec![], unassigned_queue: true },
            _ => self.scope(),
        }
    }

    /// Who may read metrics, and over which leads: admins and marketing everything, managers their teams only,
    /// LOs only themselves; loss-mitigation and intake users are refused. Narrower than [`CurrentUser::scope`] for
    /// managers (no personal leads outside their teams, no organisation-wide queue), so team figures can be read
    /// from the team-level rollups.
    pub fn metrics_scope(&self) -> Result<Scope, crate::error::AppError> {
        self.require(&[Role::Admin, Role::Manager, Role::Lo, Role::Marketing])?;
        let s = self.lead_list_scope();
        Ok(match self.role {
            Role::Manager => Scope { all: false, lo_id: None, team_ids: s.team_ids, unassigned_queue: false },
            _ => s,
        })
    }

    /// "Manages this LO's team" (admins: every team): who may direct, coach or reassign to an LO of `team`.
    pub fn manages_team_of(&self, team: Option<Uuid>) -> bool {
        self.scope().covers_team(team)
    }

    /// Whether this user may see a loss-mitigation case assigned to `specialist`.
    pub fn may_see_case(&self, specialist: Option<Uuid>) -> bool {
        match self.role {
            Role::Admin | Role::LossmitSupervisor => true,
            Role::Lossmit => specialist == Some(self.id),
            _ => false,
        }
    }

    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }
    pub fn is_manager_or_admin(&self) -> bool {
        matches!(self.role, Role::Admin | Role::Manager)
    }
    /// Refuses with 403 unless the user takes leads (an LO, or a manager who also originates).
    pub fn require_originator(&self) -> Result<(), crate::error::AppError> {
        if self.originator {
            Ok(())
        } else {
            Err(crate::error::AppError::forbidden("only people who take leads have this"))
        }
    }
    /// Refuses with 403 unless the user has one of `roles`.
    pub fn require(&self, roles: &[Role]) -> Result<(), crate::error::AppError> {
        if roles.contains(&self.role) {
            Ok(())
        } else {
            Err(crate::error::AppError::forbidden("Your role does not allow this page or action."))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(role: Role, teams: Vec<Uuid>) -> CurrentUser {
        CurrentUser {
            id: Uuid::from_u128(1),
            email: "u@x".into(),
            name: "U".into(),
            role,
            team_id: None,
            managed_team_ids: teams,
            originator: role == Role::Lo,
            via_token: false,
            token: None,
        }
    }

    #[test]
    fn a_token_opens_only_what_its_scopes_name_and_never_a_page() {
        use axum::http::Method;
        let grant = |s: &[&str]| TokenGrant {
            id: Uuid::from_u128(7),
            scopes: s.iter().map(|x| x.to_string()).collect(),
            issued_by: None,
        };
        let vendor = grant(&["leads:write"]);
        assert!(vendor.allows(&Method::POST, "/api/v1/leads"));
        assert!(!vendor.allows(&Method::GET, "/api/v1/leads"));
        assert!(!vendor.allows(&Method::PATCH, "/api/v1/leads/x"));
        let read = grant(&["read"]);
        assert!(read.allows(&Method::GET, "/api/v1/leads"));
        assert!(!read.allows(&Method::POST, "/api/v1/leads"));
        let full = grant(&["full"]);
        assert!(full.allows(&Method::PATCH, "/api/v1/leads/x"));
        for t in [&vendor, &read, &full] {
            assert!(!t.allows(&Method::GET, "/leads"), "never an HTML page");
            assert!(!t.allows(&Method::GET, "/metrics"));
        }
        assert!(grant(&["metrics"]).allows(&Method::GET, "/metrics"));
        assert!(!grant(&["metrics"]).allows(&Method::GET, "/api/v1/leads"));
    }

    #[test]
    fn lo_sees_only_own_leads() {
        let s = user(Role::Lo, vec![]).scope();
        assert!(s.allows_lead(Some(Uuid::from_u128(1)), None));
        assert!(!s.allows_lead(Some(Uuid::from_u128(2)), Some(Uuid::from_u128(9))));
        assert!(!s.allows_lead(None, None));
    }

    #[test]
    fn manager_sees_team_and_unassigned_queue() {
        let t = Uuid::from_u128(9);
        let s = user(Role::Manager, vec![t]).scope();
        assert!(s.allows_lead(Some(Uuid::from_u128(2)), Some(t)));
        assert!(s.allows_lead(None, Some(t)));
        assert!(s.allows_lead(None, None));
        assert!(!s.allows_lead(Some(Uuid::from_u128(2)), Some(Uuid::from_u128(8))));
    }

    #[test]
    fn lossmit_and_intake_see_no_leads() {
        for r in [Role::Lossmit, Role::LossmitSupervisor, Role::Intake, Role::Department] {
            assert!(!user(r, vec![]).scope().allows_lead(None, None));
        }
    }

    fn rendered(f: impl Fn(&mut sqlx::QueryBuilder<'_, sqlx::Postgres>)) -> String {
        let mut qb = sqlx::QueryBuilder::new("SELECT 1 WHERE true");
        f(&mut qb);
        qb.sql().to_string()
    }

    #[test]
    fn metrics_scope_is_narrower_for_managers_and_refuses_other_roles() {
        let t = Uuid::from_u128(9);
        let m = user(Role::Manager, vec![t]).metrics_scope().unwrap();
        assert_eq!(m, Scope::team(t), "a manager's figures: their teams only, no personal leads, no org queue");
        assert!(!m.allows_lead(Some(Uuid::from_u128(1)), None));
        assert!(!m.allows_lead(None, None));
        assert_eq!(user(Role::Lo, vec![]).metrics_scope().unwrap(), Scope::own(Uuid::from_u128(1)));
        assert!(user(Role::Admin, vec![]).metrics_scope().unwrap().all);
        for r in [Role::Lossmit, Role::LossmitSupervisor, Role::Intake] {
            assert!(user(r, vec![]).metrics_scope().is_err());
        }
        let marketing = user(Role::Marketing, vec![]);
        assert!(marketing.metrics_scope().unwrap().all, "marketing: organisation-wide figures");
        assert_eq!(marketing.scope(), Scope::nothing(), "marketing opens no lead");
        assert!(marketing.lead_list_scope().all && !marketing.sees_borrowers());
    }

    #[test]
    fn manages_this_los_team() {
        let (t, other) = (Uuid::from_u128(9), Uuid::from_u128(8));
        let m = user(Role::Manager, vec![t]);
        assert!(m.manages_team_of(Some(t)));
        assert!(!m.manages_team_of(Some(other)));
        assert!(!m.manages_team_of(None));
        assert!(user(Role::Admin, vec![]).manages_team_of(Some(other)));
        assert!(!user(Role::Admin, vec![]).scope().manages_team(Some(other)), "admins see all but manage none");
        for r in [Role::Lo, Role::Lossmit, Role::LossmitSupervisor, Role::Intake] {
            assert!(!user(r, vec![t]).manages_team_of(Some(t)), "{r:?}");
        }
    }

    #[test]
    fn loans_follow_the_lead_rule_without_the_queue() {
        let t = Uuid::from_u128(9);
        let m = user(Role::Manager, vec![t]).scope();
        assert!(m.allows_loan(None, Some(t)));
        assert!(m.allows_loan(Some(Uuid::from_u128(1)), None));
        assert!(!m.allows_loan(None, None), "no organisation-wide queue for loans");
        let lo = user(Role::Lo, vec![]).scope();
        assert!(lo.allows_loan(Some(Uuid::from_u128(1)), Some(t)));
        assert!(!lo.allows_loan(Some(Uuid::from_u128(2)), Some(t)));
    }

    #[test]
    fn predicates_render_the_same_rule_over_their_columns() {
        let t = Uuid::from_u128(9);
        let m = user(Role::Manager, vec![t]).scope();
        assert_eq!(
            rendered(|qb| m.push_lead_predicate(qb, "l")),
            "SELECT 1 WHERE true AND (false OR l.assigned_lo_id = (SELECT $1::uuid) OR l.team_id = ANY((SELECT $2)::uuid[]) \
             OR (l.assigned_lo_id IS NULL AND l.team_id IS NULL))"
        );
        assert_eq!(
            rendered(|qb| m.push_loan_predicate(qb, "p")),
            "SELECT 1 WHERE true AND (false OR p.lo_id = (SELECT $1::uuid) OR p.team_id = ANY((SELECT $2)::uuid[]))"
        );
        assert_eq!(
            rendered(|qb| m.push_roster_predicate(qb, "u")),
            "SELECT 1 WHERE true AND (false OR u.id = (SELECT $1::uuid) OR u.team_id = ANY((SELECT $2)::uuid[]))"
        );
        let metrics = user(Role::Manager, vec![t]).metrics_scope().unwrap();
        assert_eq!(
            rendered(|qb| metrics.push_contribution_predicate(qb)),
            "SELECT 1 WHERE true AND (false OR team_id = ANY((SELECT $1)::uuid[]))"
        );
        let admin = user(Role::Admin, vec![]).scope();
        assert_eq!(rendered(|qb| admin.push_lead_predicate(qb, "l")), "SELECT 1 WHERE true");
        assert_eq!(rendered(|qb| Scope::nothing().push_loan_predicate(qb, "o")), "SELECT 1 WHERE true AND (false)");
    }
}
