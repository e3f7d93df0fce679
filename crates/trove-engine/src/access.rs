//! The access boundary: the one place that decides what a [`Principal`] may do in a vault or
//! to a job, and the value that proves it was decided.
//!
//! **Design.** [`Engine::authorize`] takes a principal, a vault name and a permission type
//! ([`perm::Search`], [`perm::MemoriesWrite`], ..., one per [`Action`]) and returns an
//! [`Access<P>`]. Every vault-scoped operation of the engine (search, documents, sources,
//! memories, uploads, syncs and re-embeds, deleting a vault, its grants, reading around hits)
//! takes an `&Access<P>` of the permission it needs where it used to take a vault name, so an
//! operation cannot be reached without the check, nor with a check for another action: the type
//! says which. An `Access` has private fields; only this module makes one. Jobs go the same
//! way: [`Engine::authorize_job`] gives a [`JobAccess<P>`] that the job operations require.
//!
//! **Order**, decided here once for every transport:
//! 1. the action: the principal must hold it ([`Principal::allows`]), unless its per-vault
//!    grants decide (a member's session, [`Principal::has_grants`]) → `forbidden`;
//! 2. visibility: the vault must exist for the principal ([`Principal::sees`]); a vault it
//!    cannot see answers exactly like one that does not exist → `vault_not_found`, naming no
//!    other vault (a job whose vault it cannot see → `job_not_found`);
//! 3. the grant: [`Principal::allows_in`] the vault → `forbidden`.
//!
//! The single-user mode ([`Principal::Local`], also the CLI's identity) passes all three
//! without reading the store; an absent vault or job is then reported by the operation itself.
//!
//! **Run-time actions.** A table that names its action as a value (the server's permission
//! table) calls [`Engine::authorize_action`]; the [`AnyAccess`] it gets becomes an `Access<P>`
//! only for that same action ([`AnyAccess::to`]), so a route whose row and handler disagree
//! fails loudly instead of running under the wrong check.
//!
//! **Lists** filter instead of refusing: [`Engine::visible_vaults`] and
//! [`Engine::visible_jobs`] leave out what the principal cannot see; [`Engine::default_vault`]
//! picks the vault a call that names none uses.

use std::collections::HashMap;
use std::marker::PhantomData;

use trove_types::{Action, Code, JobPage, VaultSummary};

use crate::auth::{Principal, auth};
use crate::jobs::JobQuery;
use crate::{Engine, EngineError};

/// The permissions an [`Access`] can prove: one uninhabited type per [`Action`].
pub mod perm {
    use trove_types::Action;

    mod sealed {
        pub trait Sealed {}
    }

    /// A permission: one of the types of this module (no other type can be one).
    pub trait Permission: sealed::Sealed + Send + Sync + 'static {
        /// The action it stands for.
        const ACTION: Action;
    }

    macro_rules! permissions {
        ($($name:ident),* $(,)?) => {$(
            #[doc = concat!("The permission of [`Action::", stringify!($name), "`].")]
            #[derive(Debug, Clone, Copy, PartialEq, Eq)]
            pub enum $name {}
            impl sealed::Sealed for $name {}
            impl Permission for $name {
                const ACTION: Action = Action::$name;
            }
        )*};
    }

    permissions!(Search, DocumentsWrite, MemoriesRead, MemoriesWrite, Jobs, Admin);
}

use perm::Permission;

/// A vault an access is to, by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VaultName(String);

/// A job an access is to, by id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobId(String);

/// The proof that a principal may act with permission `P` on a vault (or, as a
/// [`JobAccess`], on a job). Only [`Engine::authorize`] and its siblings make one.
#[derive(Debug)]
pub struct Access<P: Permission, T = VaultName> {
    target: T,
    principal: Principal,
    permission: PhantomData<fn() -> P>,
}

/// The proof that a principal may act with permission `P` on a job.
pub type JobAccess<P> = Access<P, JobId>;

impl<P: Permission, T: Clone> Clone for Access<P, T> {
    fn clone(&self) -> Self {
        Access { target: self.target.clone(), principal: self.principal.clone(), permission: PhantomData }
    }
}

impl<P: Permission, T> Access<P, T> {
    /// Who was authorized.
    pub fn principal(&self) -> &Principal {
        &self.principal
    }

    /// The action it proves.
    pub fn action(&self) -> Action {
        P::ACTION
    }
}

impl<P: Permission> Access<P> {
    /// The vault.
    pub fn vault(&self) -> &str {
        &self.target.0
    }
}

impl<P: Permission> JobAccess<P> {
    /// The job's id.
    pub fn job(&self) -> &str {
        &self.target.0
    }
}

/// An access decided for an action known only at run time (a permission table's row); it
/// becomes an [`Access`] of that same action with [`AnyAccess::to`].
#[derive(Debug, Clone)]
pub struct AnyAccess<T = VaultName> {
    target: T,
    principal: Principal,
    action: Action,
}

impl<T: Clone> AnyAccess<T> {
    /// The action it was decided for.
    pub fn action(&self) -> Action {
        self.action
    }

    /// The typed access, when `P` is the action this one was decided for; otherwise an internal
    /// error (the caller's table and its use of the access disagree).
    pub fn to<P: Permission>(&self) -> Result<Access<P, T>, EngineError> {
        if self.action != P::ACTION {
            return Err(EngineError::Internal(format!(
                "access was decided for `{}` but the operation needs `{}`; the permission table and the handler disagree",
                self.action,
                P::ACTION
            )));
        }
        Ok(Access { target: self.target.clone(), principal: self.principal.clone(), permission: PhantomData })
    }
}

/// Refuses a principal that lacks `action` outright (step 1 for a call that names no vault).
fn check_action(principal: &Principal, action: Action) -> Result<(), EngineError> {
    if principal.allows(action) {
        Ok(())
    } else {
        Err(auth(
            Code::Forbidden,
            format!("this API key or session lacks the `{action}` action; ask an administrator for one that has it"),
        ))
    }
}

impl Engine {
    /// Decides whether `principal` may act with permission `P` in the vault `vault` (see the
    /// module documentation for the order of the checks).
    pub fn authorize<P: Permission>(&self, principal: &Principal, vault: &str) -> Result<Access<P>, EngineError> {
        self.authorize_action(principal, vault, P::ACTION)?.to()
    }

    /// [`Engine::authorize`] for an action known at run time.
    pub fn authorize_action(
        &self,
        principal: &Principal,
        vault: &str,
        action: Action,
    ) -> Result<AnyAccess, EngineError> {
        if !principal.has_grants() {
            check_action(principal, action)?;
        }
        if !self.sees_vault(principal, vault)? {
            return Err(auth(
                Code::VaultNotFound,
                format!(
                    "no vault named `{vault}` is visible to this API key or session; list the ones it can use with GET /v1/vaults (MCP: list_vaults)"
                ),
            ));
        }
        if !principal.allows_in(action, vault) {
            return Err(auth(
                Code::Forbidden,
                format!("your grant on vault `{vault}` does not allow `{action}`; ask an admin for a higher level"),
            ));
        }
        Ok(AnyAccess { target: VaultName(vault.to_string()), principal: principal.clone(), action })
    }

    /// Decides whether `principal` may act with permission `P` on the job `id`: it must hold
    /// the action and see the job's vault (a job it cannot see answers `job_not_found`).
    pub fn authorize_job<P: Permission>(&self, principal: &Principal, id: &str) -> Result<JobAccess<P>, EngineError> {
        self.authorize_job_action(principal, id, P::ACTION)?.to()
    }

    /// [`Engine::authorize_job`] for an action known at run time.
    pub fn authorize_job_action(
        &self,
        principal: &Principal,
        id: &str,
        action: Action,
    ) -> Result<AnyAccess<JobId>, EngineError> {
        check_action(principal, action)?;
        if *principal != Principal::Local {
            let vault = self.store.job_get(id)?.and_then(|j| j.vault);
            let visible = match vault {
                Some(v) => self.sees_vault(principal, &v)?,
                None => false,
            };
            if !visible {
                return Err(auth(Code::JobNotFound, format!("no job `{id}` is visible to this API key or session")));
            }
        }
        Ok(AnyAccess { target: JobId(id.to_string()), principal: principal.clone(), action })
    }

    /// Decides whether `principal` may call something that names no vault or job with
    /// `action` (listing vaults or jobs, the organization's administration): it must hold it.
    pub fn authorize_global(&self, principal: &Principal, action: Action) -> Result<(), EngineError> {
        check_action(principal, action)
    }

    /// Whether the vault `name` exists for `principal` (always, in the single-user mode; for a
    /// key or session, when it is stored, owned by its organization and among its vaults).
    pub(crate) fn sees_vault(&self, principal: &Principal, name: &str) -> Result<bool, EngineError> {
        Ok(match principal {
            Principal::Local => true,
            Principal::Key(_) => self.store.vault(name)?.is_some_and(|v| principal.sees(&v)),
        })
    }

    /// The names of the vaults `principal` sees, configured ones first.
    fn visible_names(&self, principal: &Principal) -> Result<Vec<String>, EngineError> {
        let mut names = Vec::new();
        for name in self.vault_names()? {
            if self.sees_vault(principal, &name)? {
                names.push(name);
            }
        }
        Ok(names)
    }

    /// The vaults `principal` sees, by name, with their counts (every vault, configured or
    /// stored, in the single-user mode).
    pub fn visible_vaults(&self, principal: &Principal) -> Result<Vec<VaultSummary>, EngineError> {
        let mut names = self.visible_names(principal)?;
        names.sort();
        names.iter().map(|n| self.overview(n)).collect()
    }

    /// The vault a call that names none uses: the first configured vault `principal` sees, else
    /// the only vault it sees.
    pub fn default_vault(&self, principal: &Principal) -> Result<String, EngineError> {
        for name in self.configured_vaults() {
            if self.sees_vault(principal, &name)? {
                return Ok(name);
            }
        }
        let visible = self.visible_names(principal)?;
        match visible.as_slice() {
            [only] => Ok(only.clone()),
            [] => Err(EngineError::BadRequest(
                "no vault is visible to this caller: add one under `vaults:` in config.yaml, or create one with POST /v1/vaults".into(),
            )),
            many => Err(EngineError::BadRequest(format!("say which vault to use: one of {}", many.join(", ")))),
        }
    }

    /// A page of jobs, newest first, leaving out those `principal` cannot see (all are seen in
    /// the single-user mode; a key or session sees its vaults' jobs). A filtered page may hold
    /// fewer jobs than asked; its cursor still continues where the unfiltered page ended.
    pub fn visible_jobs(&self, principal: &Principal, query: &JobQuery) -> Result<JobPage, EngineError> {
        let mut page = self.list_jobs(query)?;
        if *principal == Principal::Local {
            return Ok(page);
        }
        let mut seen = HashMap::new();
        let mut keep = Vec::with_capacity(page.jobs.len());
        for job in page.jobs {
            let Some(vault) = job.vault.clone() else { continue };
            let visible = match seen.get(&vault) {
                Some(v) => *v,
                None => {
                    let v = self.sees_vault(principal, &vault)?;
                    seen.insert(vault, v);
                    v
                }
            };
            if visible {
                keep.push(job);
            }
        }
        page.jobs = keep;
        Ok(page)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{HashMap, HashSet};
    use std::sync::Arc;

    use trove_types::GrantLevel;

    use super::*;
    use crate::OpenMode;
    use crate::auth::KeyPrincipal;

    /// An engine over a workspace with vaults `a` and `b` of organization `acme` and `z` of
    /// `globex`, and a configured vault `fresh` that was never stored.
    fn engine() -> (Engine, i64, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("config.yaml"),
            "embedder:\n  auto_install: false\nvaults:\n  fresh:\n    sources: {}\n",
        )
        .unwrap();
        let ws = trove_config::Workspace::load(Some(dir.path()), None).unwrap();
        let engine = Engine::open(ws, OpenMode::Write, "test").unwrap();
        let acme = engine.store.organization_ensure("acme", engine.now_ms()).unwrap().id;
        let globex = engine.store.organization_ensure("globex", engine.now_ms()).unwrap().id;
        for (name, org) in [("a", acme), ("b", acme), ("z", globex)] {
            let v = engine.store.ensure_vault(name).unwrap();
            engine.store.vault_set_organization(v.id, Some(org)).unwrap();
        }
        (engine, acme, dir)
    }

    fn key(org: i64, vaults: Option<&[&str]>, actions: &[Action], grants: Option<&[(&str, GrantLevel)]>) -> Principal {
        Principal::Key(KeyPrincipal {
            key_id: "key_1".into(),
            organization: org,
            organization_name: "acme".into(),
            vaults: vaults.map(|v| v.iter().map(|s| s.to_string()).collect::<HashSet<_>>()),
            actions: actions.to_vec(),
            user_email: "ada@acme.test".into(),
            session: grants.is_some(),
            role: None,
            grants: grants.map(|g| Arc::new(g.iter().map(|(v, l)| (v.to_string(), *l)).collect::<HashMap<_, _>>())),
        })
    }

    fn code<T: std::fmt::Debug>(r: Result<T, EngineError>) -> Code {
        trove_types::HasCode::code(&r.unwrap_err())
    }

    #[test]
    fn the_action_is_checked_before_the_vault_is_looked_up() {
        let (e, acme, _d) = engine();
        let reader = key(acme, None, &[Action::Search], None);
        assert_eq!(e.authorize::<perm::Search>(&reader, "a").unwrap().vault(), "a");
        // Lacking the action, even an absent vault answers `forbidden`: nothing is looked up.
        assert_eq!(code(e.authorize::<perm::MemoriesWrite>(&reader, "a")), Code::Forbidden);
        assert_eq!(code(e.authorize::<perm::MemoriesWrite>(&reader, "nope")), Code::Forbidden);
        // `memories.write` implies `memories.read`; `admin` implies everything.
        let writer = key(acme, None, &[Action::MemoriesWrite], None);
        assert!(e.authorize::<perm::MemoriesRead>(&writer, "a").is_ok());
        let admin = key(acme, None, &[Action::Admin], None);
        assert!(e.authorize::<perm::DocumentsWrite>(&admin, "b").is_ok());
    }

    #[test]
    fn unseen_vaults_answer_like_absent_ones() {
        let (e, acme, _d) = engine();
        let only_a = key(acme, Some(&["a"]), &[Action::Search], None);
        let refusal = |vault: &str| {
            let message = e.authorize::<perm::Search>(&only_a, vault).unwrap_err().to_string();
            message.replace(&format!("`{vault}`"), "`X`")
        };
        // Absent, another organization's, not among the key's, configured but never stored.
        let absent = refusal("nope");
        for hidden in ["z", "b", "fresh"] {
            assert_eq!(refusal(hidden), absent, "{hidden}");
        }
        let other_org = e.authorize::<perm::Search>(&only_a, "z").unwrap_err().to_string();
        assert_eq!(code(e.authorize::<perm::Search>(&only_a, "z")), Code::VaultNotFound);
        assert!(!other_org.contains("`a`"), "names no other vault: {other_org}");
    }

    #[test]
    fn a_members_grant_decides_after_visibility() {
        let (e, acme, _d) = engine();
        // A member's role lacks `admin`, but an admin grant on `a` allows the vault's own
        // administration; a read grant on `b` allows searching only.
        let member = key(
            acme,
            Some(&["a", "b"]),
            &[Action::Search, Action::MemoriesWrite],
            Some(&[("a", GrantLevel::Admin), ("b", GrantLevel::Read)]),
        );
        assert!(e.authorize::<perm::Admin>(&member, "a").is_ok());
        assert!(e.authorize::<perm::Search>(&member, "b").is_ok());
        let refused = e.authorize::<perm::MemoriesWrite>(&member, "b").unwrap_err();
        assert_eq!(trove_types::HasCode::code(&refused), Code::Forbidden);
        assert!(refused.to_string().contains("grant on vault `b`"), "{refused}");
        // Visibility comes first: an ungranted vault is absent, whatever the action.
        assert_eq!(code(e.authorize::<perm::Admin>(&member, "z")), Code::VaultNotFound);
        // Without a vault, the role decides.
        assert_eq!(code(e.authorize_global(&member, Action::Admin)), Code::Forbidden);
    }

    #[test]
    fn the_single_user_mode_passes_without_reading_the_store() {
        let (e, _, _d) = engine();
        let access = e.authorize::<perm::Admin>(&Principal::Local, "never-stored").unwrap();
        assert_eq!((access.vault(), access.action()), ("never-stored", Action::Admin));
        assert!(e.authorize_job::<perm::Jobs>(&Principal::Local, "job_x").is_ok());
        assert_eq!(e.default_vault(&Principal::Local).unwrap(), "fresh");
        let all: Vec<String> = e.visible_vaults(&Principal::Local).unwrap().into_iter().map(|v| v.name).collect();
        assert_eq!(all, ["a", "b", "fresh", "z"]);
    }

    #[test]
    fn lists_and_defaults_leave_out_what_is_not_seen() {
        let (e, acme, _d) = engine();
        let only_b = key(acme, Some(&["b"]), &[Action::Search], None);
        let names: Vec<String> = e.visible_vaults(&only_b).unwrap().into_iter().map(|v| v.name).collect();
        assert_eq!(names, ["b"]);
        assert_eq!(e.default_vault(&only_b).unwrap(), "b", "the only vault it sees");
        let both = key(acme, None, &[Action::Search], None);
        let err = e.default_vault(&both).unwrap_err().to_string();
        assert!(err.contains("one of a, b") && !err.contains('z'), "{err}");
    }

    #[test]
    fn jobs_of_unseen_vaults_are_absent() {
        let (e, acme, _d) = engine();
        let job = |vault: &str| {
            let new = trove_store::NewJob {
                kind: crate::jobs::KIND_REEMBED.into(),
                vault: Some(vault.into()),
                payload: serde_json::json!({}),
                dedupe_key: None,
                max_attempts: 3,
                timeout_ms: 60_000,
            };
            e.store.job_enqueue(&new, e.now_ms()).unwrap().id
        };
        let (ours, theirs) = (job("a"), job("z"));
        let k = key(acme, None, &[Action::Jobs], None);
        assert_eq!(e.authorize_job::<perm::Jobs>(&k, &ours).unwrap().job(), ours);
        let hidden = e.authorize_job::<perm::Jobs>(&k, &theirs).unwrap_err();
        let absent = e.authorize_job::<perm::Jobs>(&k, "job_none").unwrap_err();
        assert_eq!(hidden.to_string().replace(&theirs, "X"), absent.to_string().replace("job_none", "X"));
        assert_eq!(trove_types::HasCode::code(&hidden), Code::JobNotFound);
        assert_eq!(code(e.authorize_job::<perm::Admin>(&k, &ours)), Code::Forbidden);
        let page = e.visible_jobs(&k, &JobQuery::default()).unwrap();
        assert_eq!(page.jobs.iter().map(|j| j.id.as_str()).collect::<Vec<_>>(), [ours.as_str()]);
        assert_eq!(e.visible_jobs(&Principal::Local, &JobQuery::default()).unwrap().jobs.len(), 2);
    }

    #[test]
    fn a_run_time_access_converts_only_to_its_own_action() {
        let (e, _, _d) = engine();
        let any = e.authorize_action(&Principal::Local, "a", Action::Search).unwrap();
        assert_eq!(any.action(), Action::Search);
        assert_eq!(any.to::<perm::Search>().unwrap().vault(), "a");
        assert_eq!(code(any.to::<perm::Admin>()), Code::Internal);
    }
}
