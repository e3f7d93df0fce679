//! Teams and vault grants: `GET`/`POST /v1/org/teams`, `DELETE /v1/org/teams/{id}`,
//! `POST /v1/org/teams/{id}/members`, `DELETE /v1/org/teams/{id}/members/{member}` (owners and
//! admins), and a vault's grants to members and teams: `GET`/`PUT /v1/vaults/{vault}/grants`,
//! `DELETE /v1/vaults/{vault}/grants/{grantee}` (owners, admins, and the vault's own `admin`
//! grantees).

use axum::Extension;
use axum::Json as JsonOut;
use axum::extract::State;
use axum::http::StatusCode;
use trove_engine::auth::Principal;
use trove_engine::perm;
use trove_types::{AddTeamMember, CreateTeam, GrantRequest, Team, VaultGrant};

use crate::auth::{Allowed, AuditTarget};
use crate::error::{ApiError, Json, Path};
use crate::openapi::{BadRequest, GrantPath, Internal, NotFound, TeamMemberPath, TeamPath, Unavailable, VaultPath};
use crate::{AppState, blocking};

/// `GET /v1/org/teams`.
#[utoipa::path(
    get, path = "/v1/org/teams", operation_id = "teams_list", tag = "members",
    responses(
        (status = 200, description = "The organization's teams with their members, by name.", body = Vec<Team>),
        (status = 400, response = BadRequest), (status = 500, response = Internal), (status = 503, response = Unavailable),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
) -> Result<JsonOut<Vec<Team>>, ApiError> {
    Ok(JsonOut(blocking(&state, move |e| e.teams(&principal)).await?))
}

/// `POST /v1/org/teams`.
#[utoipa::path(
    post, path = "/v1/org/teams", operation_id = "teams_create", tag = "members",
    request_body = CreateTeam,
    responses(
        (status = 201, description = "The new, empty team.", body = Team),
        (status = 400, response = BadRequest),
        (status = 409, description = "The organization has a team of that name (`team_exists`)."),
        (status = 500, response = Internal), (status = 503, response = Unavailable),
    )
)]
pub async fn create(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Json(body): Json<CreateTeam>,
) -> Result<(StatusCode, Extension<AuditTarget>, JsonOut<Team>), ApiError> {
    let t = blocking(&state, move |e| e.team_create(&principal, &body.name)).await?;
    Ok((StatusCode::CREATED, Extension(AuditTarget(format!("team:{}", t.id))), JsonOut(t)))
}

/// `DELETE /v1/org/teams/{id}`.
#[utoipa::path(
    delete, path = "/v1/org/teams/{id}", operation_id = "teams_delete", tag = "members",
    params(TeamPath),
    responses(
        (status = 204, description = "Deleted, with its grants."),
        (status = 404, response = NotFound), (status = 500, response = Internal), (status = 503, response = Unavailable),
    )
)]
pub async fn delete(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    blocking(&state, move |e| e.team_delete(&principal, &id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /v1/org/teams/{id}/members`.
#[utoipa::path(
    post, path = "/v1/org/teams/{id}/members", operation_id = "teams_add_member", tag = "members",
    params(TeamPath), request_body = AddTeamMember,
    responses(
        (status = 200, description = "The team with its members.", body = Team),
        (status = 404, response = NotFound), (status = 500, response = Internal), (status = 503, response = Unavailable),
    )
)]
pub async fn add_member(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
    Json(body): Json<AddTeamMember>,
) -> Result<JsonOut<Team>, ApiError> {
    Ok(JsonOut(blocking(&state, move |e| e.team_member_add(&principal, &id, &body.email)).await?))
}

/// `DELETE /v1/org/teams/{id}/members/{member}`.
#[utoipa::path(
    delete, path = "/v1/org/teams/{id}/members/{member}", operation_id = "teams_remove_member", tag = "members",
    params(TeamMemberPath),
    responses(
        (status = 200, description = "The team with its members.", body = Team),
        (status = 404, response = NotFound), (status = 500, response = Internal), (status = 503, response = Unavailable),
    )
)]
pub async fn remove_member(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path((id, member)): Path<(String, String)>,
) -> Result<JsonOut<Team>, ApiError> {
    Ok(JsonOut(blocking(&state, move |e| e.team_member_remove(&principal, &id, &member)).await?))
}

/// `GET /v1/vaults/{vault}/grants`.
#[utoipa::path(
    get, path = "/v1/vaults/{vault}/grants", operation_id = "grants_list", tag = "vaults",
    params(VaultPath),
    responses(
        (status = 200, description = "Who the vault is granted to: members first, then teams.", body = Vec<VaultGrant>),
        (status = 404, response = NotFound), (status = 500, response = Internal), (status = 503, response = Unavailable),
    )
)]
pub async fn grants(
    State(state): State<AppState>,
    Allowed(access): Allowed<perm::Admin>,
) -> Result<JsonOut<Vec<VaultGrant>>, ApiError> {
    Ok(JsonOut(blocking(&state, move |e| e.vault_grants(&access)).await?))
}

/// `PUT /v1/vaults/{vault}/grants`.
#[utoipa::path(
    put, path = "/v1/vaults/{vault}/grants", operation_id = "grants_put", tag = "vaults",
    params(VaultPath), request_body = GrantRequest,
    responses(
        (status = 200, description = "The grant, new or changed.", body = VaultGrant),
        (status = 400, response = BadRequest), (status = 404, response = NotFound),
        (status = 500, response = Internal), (status = 503, response = Unavailable),
    )
)]
pub async fn grant(
    State(state): State<AppState>,
    Allowed(access): Allowed<perm::Admin>,
    Json(body): Json<GrantRequest>,
) -> Result<(Extension<AuditTarget>, JsonOut<VaultGrant>), ApiError> {
    let target = access.vault().to_string();
    let g = blocking(&state, move |e| e.vault_grant(&access, &body)).await?;
    Ok((Extension(AuditTarget(format!("vault:{target}/{}:{}", g.grantee, g.id))), JsonOut(g)))
}

/// `DELETE /v1/vaults/{vault}/grants/{grantee}`.
#[utoipa::path(
    delete, path = "/v1/vaults/{vault}/grants/{grantee}", operation_id = "grants_delete", tag = "vaults",
    params(GrantPath),
    responses(
        (status = 204, description = "The grant is gone."),
        (status = 404, response = NotFound), (status = 500, response = Internal), (status = 503, response = Unavailable),
    )
)]
pub async fn revoke(
    State(state): State<AppState>,
    Allowed(access): Allowed<perm::Admin>,
    Path((_, grantee)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    blocking(&state, move |e| e.vault_revoke(&access, &grantee)).await?;
    Ok(StatusCode::NO_CONTENT)
}
