//! Teams and vault grants: an organization's teams and their members, and grants of a vault to
//! a user or a team at `read`, `write` or `admin`. A user's grants (direct and through teams)
//! decide which vaults a member sees. Names and emails are ordered by `COLLATE "C"` (code
//! points), as the embedded store's binary collation orders them.

use postgres::GenericClient;

use crate::*;

impl GrantStore for PgStore {
    /// Teams of the organization by name, each with its members by email.
    fn teams(&self, organization: i64) -> Result<Vec<TeamRecord>, StoreError> {
        self.read(|c| {
            let mut teams = c
                .query(
                    r#"SELECT id, public_id, name, created_ms FROM teams WHERE organization_id = $1
                       ORDER BY name COLLATE "C", id"#,
                    &[&organization],
                )?
                .iter()
                .map(|r| {
                    Ok(TeamRecord {
                        id: r.try_get(0)?,
                        public_id: r.try_get(1)?,
                        organization,
                        name: r.try_get(2)?,
                        created_ms: r.try_get(3)?,
                        members: Vec::new(),
                    })
                })
                .collect::<Res<Vec<TeamRecord>>>()?;
            let members = c.query(
                r#"SELECT t.team_id, u.id, u.public_id, u.email FROM team_members t JOIN users u ON u.id = t.user_id
                   WHERE t.team_id = ANY($1) ORDER BY u.email COLLATE "C", u.id"#,
                &[&teams.iter().map(|t| t.id).collect::<Vec<i64>>()],
            )?;
            for r in &members {
                let team: i64 = r.try_get(0)?;
                if let Some(t) = teams.iter_mut().find(|t| t.id == team) {
                    t.members.push((r.try_get(1)?, r.try_get(2)?, r.try_get(3)?));
                }
            }
            Ok(teams)
        })
    }

    /// `None` when the organization has a team of that name.
    fn team_create(
        &self,
        organization: i64,
        public_id: &str,
        name: &str,
        now_ms: i64,
    ) -> Result<Option<TeamRecord>, StoreError> {
        self.write(|tx| {
            let row = tx.query_opt(
                "INSERT INTO teams (public_id, organization_id, name, created_ms) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (organization_id, name) DO NOTHING RETURNING id",
                &[&public_id, &organization, &name, &now_ms],
            )?;
            let Some(row) = row else { return Ok(None) };
            Ok(Some(TeamRecord {
                id: row.try_get(0)?,
                public_id: public_id.to_string(),
                organization,
                name: name.to_string(),
                created_ms: now_ms,
                members: Vec::new(),
            }))
        })
    }

    /// Deletes the team with its seats and grants; false when the organization has no such team.
    fn team_delete(&self, organization: i64, public_id: &str) -> Result<bool, StoreError> {
        self.write(|tx| {
            let n = tx.execute(
                "DELETE FROM teams WHERE organization_id = $1 AND public_id = $2",
                &[&organization, &public_id],
            )?;
            Ok(n > 0)
        })
    }

    /// Adds or removes a seat; false when nothing changed.
    fn team_member_set(&self, team: i64, user: i64, member: bool) -> Result<bool, StoreError> {
        self.write(|tx| {
            let n = if member {
                tx.execute(
                    "INSERT INTO team_members (team_id, user_id) VALUES ($1, $2) ON CONFLICT (team_id, user_id) DO NOTHING",
                    &[&team, &user],
                )?
            } else {
                tx.execute("DELETE FROM team_members WHERE team_id = $1 AND user_id = $2", &[&team, &user])?
            };
            Ok(n > 0)
        })
    }

    /// The vault's grants: users by email, then teams by name.
    fn vault_grants(&self, vault: VaultId) -> Result<Vec<GrantRecord>, StoreError> {
        self.read(|c| {
            c.query(
                r#"SELECT g.user_id, g.team_id, coalesce(u.public_id, t.public_id), coalesce(u.email, t.name), g.level,
                          g.created_ms
                   FROM vault_grants g LEFT JOIN users u ON u.id = g.user_id LEFT JOIN teams t ON t.id = g.team_id
                   WHERE g.vault_id = $1 ORDER BY g.team_id IS NOT NULL, coalesce(u.email, t.name) COLLATE "C""#,
                &[&vault],
            )?
            .iter()
            .map(|r| {
                let grantee = match (r.try_get::<_, Option<i64>>(0)?, r.try_get::<_, Option<i64>>(1)?) {
                    (Some(user), _) => Grantee::User(user),
                    (None, Some(team)) => Grantee::Team(team),
                    (None, None) => {
                        return Err(StoreError::Corrupt(format!("a grant of vault {vault} names no grantee")).into());
                    }
                };
                Ok(GrantRecord {
                    vault,
                    grantee,
                    grantee_id: r.try_get(2)?,
                    grantee_name: r.try_get(3)?,
                    level: r.try_get(4)?,
                    created_ms: r.try_get(5)?,
                })
            })
            .collect()
        })
    }

    /// `(vault name, level)` of every grant the user holds in the organization's vaults, directly
    /// or through a team, by vault name.
    fn user_grants(&self, organization: i64, user: i64) -> Result<Vec<(String, String)>, StoreError> {
        self.read(|c| {
            c.query(
                r#"SELECT v.name, g.level FROM vault_grants g JOIN vaults v ON v.id = g.vault_id
                   WHERE v.organization_id = $1
                     AND (g.user_id = $2 OR g.team_id IN (SELECT team_id FROM team_members WHERE user_id = $2))
                   ORDER BY v.name COLLATE "C""#,
                &[&organization, &user],
            )?
            .iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
        })
    }

    /// Grants the vault to the grantee at `level`, replacing an earlier grant to them (its level and
    /// time). One upsert on the partial unique index, so concurrent grants cannot collide.
    fn grant_put(&self, vault: VaultId, grantee: Grantee, level: &str, now_ms: i64) -> Result<(), StoreError> {
        let (column, id) = grantee_column(grantee);
        let sql = format!(
            "INSERT INTO vault_grants (vault_id, {column}, level, created_ms) VALUES ($1, $2, $3, $4)
             ON CONFLICT (vault_id, {column}) WHERE {column} IS NOT NULL
             DO UPDATE SET level = EXCLUDED.level, created_ms = EXCLUDED.created_ms"
        );
        self.write(|tx| {
            tx.execute(sql.as_str(), &[&vault, &id, &level, &now_ms])?;
            Ok(())
        })
    }

    /// False when the grantee had no grant of the vault.
    fn grant_remove(&self, vault: VaultId, grantee: Grantee) -> Result<bool, StoreError> {
        let (column, id) = grantee_column(grantee);
        let sql = format!("DELETE FROM vault_grants WHERE vault_id = $1 AND {column} = $2");
        self.write(|tx| Ok(tx.execute(sql.as_str(), &[&vault, &id])? > 0))
    }
}

/// The column of `vault_grants` that names the grantee, and the grantee's row id.
fn grantee_column(grantee: Grantee) -> (&'static str, i64) {
    match grantee {
        Grantee::User(user) => ("user_id", user),
        Grantee::Team(team) => ("team_id", team),
    }
}

/// Removes the team seats and direct grants a user holds in an organization (with the
/// membership, in the caller's transaction).
pub(super) fn forget_member(c: &mut impl GenericClient, organization: i64, user: i64) -> Res<()> {
    c.execute(
        "DELETE FROM team_members WHERE user_id = $2 AND team_id IN (SELECT id FROM teams WHERE organization_id = $1)",
        &[&organization, &user],
    )?;
    c.execute(
        "DELETE FROM vault_grants WHERE user_id = $2 AND vault_id IN (SELECT id FROM vaults WHERE organization_id = $1)",
        &[&organization, &user],
    )?;
    Ok(())
}
