//! `trove admin`: creates users and API keys, lists and revokes keys, and gives vaults to
//! organizations, on the workspace's store (opened for writing, like ingest). Secrets are
//! read from the environment or standard input, never from arguments (which other users of
//! the machine can see), and a new key is printed once.

use std::io::{BufRead, Read, Write};

use trove_config::Workspace;
use trove_engine::NewAuditEvent;
use trove_engine::auth::KeyRequest;
use trove_engine::{Engine, OpenMode};
use trove_types::{Action, Code, Role};

use crate::Failure;
use crate::cli::AdminAction;

/// The environment variable a new user's password may come from.
pub const PASSWORD_ENV: &str = "TROVE_ADMIN_PASSWORD";

fn read_password() -> Result<String, Failure> {
    if let Ok(p) = std::env::var(PASSWORD_ENV) {
        return Ok(p);
    }
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| Failure::new(Code::IoFailed, format!("cannot read the password from standard input: {e}")))?;
    let line = line.trim_end_matches(['\r', '\n']).to_string();
    if line.is_empty() {
        return Err(Failure::new(
            Code::InvalidPassword,
            format!("no password: set ${PASSWORD_ENV} or write it on standard input"),
        ));
    }
    Ok(line)
}

/// The variable `trove admin set-secret` reads the value from.
pub const SECRET_ENV: &str = "TROVE_SECRET_VALUE";

fn read_secret() -> Result<String, Failure> {
    if let Ok(v) = std::env::var(SECRET_ENV) {
        return Ok(v);
    }
    let mut value = String::new();
    std::io::stdin()
        .lock()
        .read_to_string(&mut value)
        .map_err(|e| Failure::new(Code::IoFailed, format!("cannot read the secret from standard input: {e}")))?;
    let value = value.strip_suffix('\n').map(|v| v.strip_suffix('\r').unwrap_or(v)).unwrap_or(&value);
    Ok(value.to_string())
}

/// Records what the command did in the audit log, as actor `cli`.
fn audit(engine: &Engine, organization: &str, event: &str, target: String) {
    let organization = engine.find_organization(organization).ok().flatten();
    engine.audit(NewAuditEvent {
        organization,
        actor: "cli".into(),
        event: event.into(),
        target: Some(target),
        outcome: "ok".into(),
        details: serde_json::json!({"command": format!("trove admin {}", event.replace('.', " "))}),
        ..Default::default()
    });
}

fn print_json(v: &impl serde::Serialize) {
    let _ = writeln!(std::io::stdout().lock(), "{}", serde_json::to_string_pretty(v).unwrap_or_default());
}

/// Runs one admin action.
pub fn run(ws: Workspace, action: &AdminAction) -> Result<(), Failure> {
    let engine = Engine::open(ws, OpenMode::Write, "trove admin")?;
    let mut out = std::io::stdout().lock();
    match action {
        AdminAction::CreateUser { email, organization, owner, role } => {
            let role = match (owner, role) {
                (true, _) => Role::Owner,
                (false, None) => Role::Member,
                (false, Some(r)) => Role::parse(r).ok_or_else(|| {
                    Failure::new(Code::BadRequest, format!("--role `{r}`: use owner, admin or member"))
                })?,
            };
            let password = read_password()?;
            let created = engine.create_user(email, &password, organization, role)?;
            audit(&engine, organization, "user.created", format!("user:{}", created.email));
            let _ = writeln!(
                out,
                "created user {} ({}) as {} of organization `{}`",
                created.email,
                created.id,
                created.role.as_str(),
                created.organization
            );
            if created.claimed_vaults > 0 {
                let _ = writeln!(
                    out,
                    "organization `{}` now owns {} vault(s) that had no organization",
                    created.organization, created.claimed_vaults
                );
            }
            let _ = writeln!(out, "authentication is on: requests to /v1 need an API key (trove admin create-key)");
        }
        AdminAction::ResetPassword { email } => {
            let password = read_password()?;
            let (ended, organizations) = engine.admin_reset_password(email, &password)?;
            for organization in organizations {
                audit(&engine, &organization, "user.password_reset", format!("user:{email}"));
            }
            let _ = writeln!(out, "set a new password for {email}; {ended} session(s) ended");
        }
        AdminAction::CreateKey { email, organization, name, vaults, actions, expires_in_days, json } => {
            let actions = actions
                .iter()
                .map(|a| {
                    Action::parse(a).ok_or_else(|| {
                        Failure::new(
                            Code::BadRequest,
                            format!("--action `{a}`: use one of {}", Action::ALL.map(|a| a.as_str()).join(", ")),
                        )
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            let created = engine.create_api_key(&KeyRequest {
                email: email.clone(),
                organization: organization.clone(),
                name: name.clone(),
                vaults: vaults.clone(),
                actions,
                expires_in_days: *expires_in_days,
            })?;
            audit(&engine, organization, "key.created", format!("key:{}", created.info.id));
            if *json {
                print_json(&created);
            } else {
                let _ = writeln!(out, "{}", created.key);
                eprintln!(
                    "trove: API key {} created; it is shown only now. Send it as `Authorization: Bearer <key>`.",
                    created.info.id
                );
            }
        }
        AdminAction::ListKeys { organization, json } => {
            let keys = engine.api_keys(organization)?;
            if *json {
                print_json(&keys);
            } else {
                for k in keys {
                    let state = match (&k.revoked_at, &k.expires_at) {
                        (Some(at), _) => format!("revoked {at}"),
                        (None, Some(at)) => format!("expires {at}"),
                        (None, None) => "active".to_string(),
                    };
                    let actions: Vec<&str> = k.actions.iter().map(|a| a.as_str()).collect();
                    let _ = writeln!(
                        out,
                        "{}  {}…  {}  vaults={}  actions={}  {}  last used {}",
                        k.id,
                        k.prefix,
                        k.name,
                        k.vaults.join(","),
                        actions.join(","),
                        state,
                        k.last_used_at.as_deref().unwrap_or("never")
                    );
                }
            }
        }
        AdminAction::RevokeKey { id, organization } => {
            engine.revoke_api_key(organization, id)?;
            audit(&engine, organization, "key.revoked", format!("key:{id}"));
            let _ = writeln!(out, "revoked {id}");
        }
        AdminAction::SetSecret { name, organization } => {
            let value = read_secret()?;
            let (_, created) = engine.admin_secret_set(organization, name, &value)?;
            audit(&engine, organization, "secret.set", format!("secret:{name}"));
            let verb = if created { "stored" } else { "replaced" };
            let _ = writeln!(out, "{verb} secret `{name}` of organization `{organization}` (encrypted)");
        }
        AdminAction::ListSecrets { organization, json } => {
            let secrets = engine.admin_secrets(organization)?;
            if *json {
                print_json(&secrets);
            } else {
                for s in secrets {
                    let key = if s.current_key { "" } else { "  (previous key: run trove admin rotate-secrets)" };
                    let _ = writeln!(out, "{}  updated {} by {}{key}", s.name, s.updated_at, s.updated_by);
                }
            }
        }
        AdminAction::DeleteSecret { name, organization } => {
            engine.admin_secret_delete(organization, name)?;
            audit(&engine, organization, "secret.deleted", format!("secret:{name}"));
            let _ = writeln!(out, "deleted secret `{name}` of organization `{organization}`");
        }
        AdminAction::RotateSecrets { json } => {
            let done = engine.rotate_secrets()?;
            if *json {
                print_json(
                    &serde_json::json!({"resealed": done.resealed, "current": done.current, "raced": done.raced}),
                );
            } else {
                let _ = writeln!(
                    out,
                    "re-encrypted {} secret(s) with the current key; {} already were{}",
                    done.resealed,
                    done.current + done.raced,
                    if done.resealed + done.current + done.raced > 0 {
                        "; auth.previous_key_encryption_secrets can be emptied"
                    } else {
                        ""
                    }
                );
            }
        }
        AdminAction::AssignVault { vault, organization } => {
            engine.assign_vault(vault, organization)?;
            audit(&engine, organization, "vault.assigned", format!("vault:{vault}"));
            let _ = writeln!(out, "vault `{vault}` now belongs to organization `{organization}`");
        }
    }
    Ok(())
}
