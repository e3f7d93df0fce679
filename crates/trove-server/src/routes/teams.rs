//! Teams and vault grants: `GET`/`POST /v1/org/teams`, `DELETE /v1/org/teams/{id}`,
//! `POST /v1/org/teams/{id}/members`, `DELETE /v1/org/teams/{id}/members/{member}` (owners and
//! admins), and a vault's grants to members and teams: `GET`/`PUT /v1/vaults/{vault}/grants`,
//! `DELETE /v1/vaults/{vault}/grants/{grantee}` (owners, admins, and the vault's own `admin`
//! grantees).

use axum::Extension;
use axum::Json as JsonOut;
use axum::http::StatusCode;
use trove_engine::perm;
use trove_types::{AddTeamMember, CreateTeam, GrantRequest, Team, VaultGrant};

use crate::auth::{Allowed, AuditTarget, Made};
use crate::call::{Caller, EngineCall};
use crate::error::{ApiError, Json, Path};
use crate::openapi::{BadRequest, GrantPath, NotFound, TeamMemberPath, TeamPath, VaultPath};

/// `GET /v1/org/teams`.
#[utoipa::path(
    get, path = "/v1/org/teams", operation_id = "teams_list", tag = "members",
    responses(
        (status = 200, description = "The organization's teams with their members, by name.", body = Vec<Team>),
        (status = 400, response = BadRequest),
    )
)]
pub async fn list(caller: Caller) -> Result<JsonOut<Vec<Team>>, ApiError> {
    caller.json(move |e, principal| e.teams(principal)).await
}

/// `POST /v1/org/teams`.
#[utoipa::path(
    post, path = "/v1/org/teams", operation_id = "teams_create", tag = "members",
    request_body = CreateTeam,
    responses(
        (status = 201, description = "The new, empty team.", body = Team),
        (status = 400, response = BadRequest),
        (status = 409, description = "The organization has a team of that name (`team_exists`)."),
    )
)]
pub async fn create(caller: Caller, Json(body): Json<CreateTeam>) -> Result<Made<Team>, ApiError> {
    let t = caller.run(move |e, principal| e.team_create(principal, &body.name)).await?;
    Ok(Made::created(format!("team:{}", t.id), t))
}

/// `DELETE /v1/org/teams/{id}`.
#[utoipa::path(
    delete, path = "/v1/org/teams/{id}", operation_id = "teams_delete", tag = "members",
    params(TeamPath),
    responses(
        (status = 204, description = "Deleted, with its grants."),
        (status = 404, response = NotFound),
    )
)]
pub async fn delete(caller: Caller, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
    caller.no_content(move |e, principal| e.team_delete(principal, &id)).await
}

/// `POST /v1/org/teams/{id}/members`.
#[utoipa::path(
    post, path = "/v1/org/teams/{id}/members", operation_id = "teams_add_member", tag = "members",
    params(TeamPath), request_body = AddTeamMember,
    responses(
        (status = 200, description = "The team with its members.", body = Team),
        (status = 404, response = NotFound),
    )
)]
pub async fn add_member(
    caller: Caller,
    Path(id): Path<String>,
    Json(body): Json<AddTeamMember>,
) -> Result<JsonOut<Team>, ApiError> {
    caller.json(move |e, principal| e.team_member_add(principal, &id, &body.email)).await
}

/// `DELETE /v1/org/teams/{id}/members/{member}`.
#[utoipa::path(
    delete, path = "/v1/org/teams/{id}/members/{member}", operation_id = "teams_remove_member", tag = "members",
    params(TeamMemberPath),
    responses(
        (status = 200, description = "The team with its members.", body = Team),
        (status = 404, response = NotFound),
    )
)]
pub async fn remove_member(
    caller: Caller,
    Path((id, member)): Path<(String, String)>,
) -> Result<JsonOut<Team>, ApiError> {
    caller.json(move |e, principal| e.team_member_remove(principal, &id, &member)).await
}

/// `GET /v1/vaults/{vault}/grants`.
#[utoipa::path(
    get, path = "/v1/vaults/{vault}/grants", operation_id = "grants_list", tag = "vaults",
    params(VaultPath),
    responses(
        (status = 200, description = "Who the vault is granted to: members first, then teams.", body = Vec<VaultGrant>),
        (status = 404, response = NotFound),
    )
)]
pub async fn grants(allowed: Allowed<perm::Admin>) -> Result<JsonOut<Vec<VaultGrant>>, ApiError> {
    allowed.json(move |e, access| e.vault_grants(access)).await
}

/// `PUT /v1/vaults/{vault}/grants`.
#[utoipa::path(
    put, path = "/v1/vaults/{vault}/grants", operation_id = "grants_put", tag = "vaults",
    params(VaultPath), request_body = GrantRequest,
    responses(
        (status = 200, description = "The grant, new or changed.", body = VaultGrant),
        (status = 400, response = BadRequest), (status = 404, response = NotFound),
    )
)]
pub async fn grant(
    allowed: Allowed<perm::Admin>,
    Json(body): Json<GrantRequest>,
) -> Result<(Extension<AuditTarget>, JsonOut<VaultGrant>), ApiError> {
    let target = allowed.access().vault().to_string();
    let g = allowed.run(move |e, access| e.vault_grant(access, &body)).await?;
    Ok((Extension(AuditTarget(format!("vault:{target}/{}:{}", g.grantee, g.id))), JsonOut(g)))
}

/// `DELETE /v1/vaults/{vault}/grants/{grantee}`.
#[utoipa::path(
    delete, path = "/v1/vaults/{vault}/grants/{grantee}", operation_id = "grants_delete", tag = "vaults",
    params(GrantPath),
    responses(
        (status = 204, description = "The grant is gone."),
        (status = 404, response = NotFound),
    )
)]
pub async fn revoke(
    allowed: Allowed<perm::Admin>,
    Path((_, grantee)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    allowed.no_content(move |e, access| e.vault_revoke(access, &grantee)).await
}
