//! Teams and vault grants in the embedded store: an organization's teams and their members,
//! and grants of a vault to a user or a team at `read`, `write` or `admin`. A user's grants
//! (direct and through teams) decide which vaults a member sees; owners and admins see all.

use rusqlite::params;

use crate::embedded::EmbeddedStore;
use crate::{GrantRecord, GrantStore, Grantee, StoreError, TeamRecord, VaultId};

impl GrantStore for EmbeddedStore {
    fn teams(&self, organization: i64) -> Result<Vec<TeamRecord>, StoreError> {
        let conn = self.read()?;
        let mut stmt = conn.prepare_cached(
            "SELECT id, public_id, name, created_ms FROM teams WHERE organization_id = ? ORDER BY name",
        )?;
        let mut teams: Vec<TeamRecord> = stmt
            .query_map([organization], |r| {
                Ok(TeamRecord {
                    id: r.get(0)?,
                    public_id: r.get(1)?,
                    organization,
                    name: r.get(2)?,
                    created_ms: r.get(3)?,
                    members: Vec::new(),
                })
            })?
            .collect::<Result<_, _>>()?;
        let mut members = conn.prepare_cached(
            "SELECT u.id, u.public_id, u.email FROM team_members t JOIN users u ON u.id = t.user_id
             WHERE t.team_id = ? ORDER BY u.email",
        )?;
        for team in &mut teams {
            team.members =
                members.query_map([team.id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?.collect::<Result<_, _>>()?;
        }
        Ok(teams)
    }

    fn team_create(
        &self,
        organization: i64,
        public_id: &str,
        name: &str,
        now_ms: i64,
    ) -> Result<Option<TeamRecord>, StoreError> {
        let conn = self.conn();
        let n = conn.execute(
            "INSERT INTO teams (public_id, organization_id, name, created_ms) VALUES (?, ?, ?, ?)
             ON CONFLICT (organization_id, name) DO NOTHING",
            params![public_id, organization, name, now_ms],
        )?;
        if n == 0 {
            return Ok(None);
        }
        let id: i64 = conn.query_row("SELECT id FROM teams WHERE public_id = ?", [public_id], |r| r.get(0))?;
        Ok(Some(TeamRecord {
            id,
            public_id: public_id.to_string(),
            organization,
            name: name.to_string(),
            created_ms: now_ms,
            members: Vec::new(),
        }))
    }

    fn team_delete(&self, organization: i64, public_id: &str) -> Result<bool, StoreError> {
        let n = self.conn().execute(
            "DELETE FROM teams WHERE organization_id = ? AND public_id = ?",
            params![organization, public_id],
        )?;
        Ok(n > 0)
    }

    fn team_member_set(&self, team: i64, user: i64, member: bool) -> Result<bool, StoreError> {
        let conn = self.conn();
        let n = if member {
            conn.execute("INSERT OR IGNORE INTO team_members (team_id, user_id) VALUES (?, ?)", [team, user])?
        } else {
            conn.execute("DELETE FROM team_members WHERE team_id = ? AND user_id = ?", [team, user])?
        };
        Ok(n > 0)
    }

    fn vault_grants(&self, vault: VaultId) -> Result<Vec<GrantRecord>, StoreError> {
        let conn = self.read()?;
        let mut stmt = conn.prepare_cached(
            "SELECT g.user_id, g.team_id, coalesce(u.public_id, t.public_id), coalesce(u.email, t.name), g.level, g.created_ms
             FROM vault_grants g LEFT JOIN users u ON u.id = g.user_id LEFT JOIN teams t ON t.id = g.team_id
             WHERE g.vault_id = ? ORDER BY g.team_id IS NOT NULL, coalesce(u.email, t.name)",
        )?;
        let rows = stmt.query_map([vault], |r| {
            let user: Option<i64> = r.get(0)?;
            let team: Option<i64> = r.get(1)?;
            Ok(GrantRecord {
                vault,
                grantee: match user {
                    Some(u) => Grantee::User(u),
                    None => Grantee::Team(team.unwrap_or_default()),
                },
                grantee_id: r.get(2)?,
                grantee_name: r.get(3)?,
                level: r.get(4)?,
                created_ms: r.get(5)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn user_grants(&self, organization: i64, user: i64) -> Result<Vec<(String, String)>, StoreError> {
        let conn = self.read()?;
        let mut stmt = conn.prepare_cached(
            "SELECT v.name, g.level FROM vault_grants g JOIN vaults v ON v.id = g.vault_id
             WHERE v.organization_id = ?1
               AND (g.user_id = ?2 OR g.team_id IN (SELECT team_id FROM team_members WHERE user_id = ?2))
             ORDER BY v.name",
        )?;
        let rows = stmt.query_map(params![organization, user], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn grant_put(&self, vault: VaultId, grantee: Grantee, level: &str, now_ms: i64) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let (user, team) = split(grantee);
        tx.execute(
            "DELETE FROM vault_grants WHERE vault_id = ? AND user_id IS ? AND team_id IS ?",
            params![vault, user, team],
        )?;
        tx.execute(
            "INSERT INTO vault_grants (vault_id, user_id, team_id, level, created_ms) VALUES (?, ?, ?, ?, ?)",
            params![vault, user, team, level, now_ms],
        )?;
        tx.commit()?;
        Ok(())
    }

    fn grant_remove(&self, vault: VaultId, grantee: Grantee) -> Result<bool, StoreError> {
        let (user, team) = split(grantee);
        let n = self.conn().execute(
            "DELETE FROM vault_grants WHERE vault_id = ? AND user_id IS ? AND team_id IS ?",
            params![vault, user, team],
        )?;
        Ok(n > 0)
    }
}

/// Team memberships and direct grants a user holds in an organization (removed with the
/// membership, in the caller's transaction).
pub(super) fn forget_member(tx: &rusqlite::Transaction<'_>, organization: i64, user: i64) -> Result<(), StoreError> {
    tx.execute(
        "DELETE FROM team_members WHERE user_id = ?2 AND team_id IN (SELECT id FROM teams WHERE organization_id = ?1)",
        params![organization, user],
    )?;
    tx.execute(
        "DELETE FROM vault_grants WHERE user_id = ?2 AND vault_id IN (SELECT id FROM vaults WHERE organization_id = ?1)",
        params![organization, user],
    )?;
    Ok(())
}

fn split(grantee: Grantee) -> (Option<i64>, Option<i64>) {
    match grantee {
        Grantee::User(u) => (Some(u), None),
        Grantee::Team(t) => (None, Some(t)),
    }
}
