//! The members of the caller's organization: `GET /v1/org/members`, `POST /v1/org/members`
//! (add an existing user with a role), `PATCH /v1/org/members/{id}` (change the role) and
//! `DELETE /v1/org/members/{id}`. Needs `admin`; only a logged-in owner makes or unmakes
//! owners, and the last owner stays. Invitations by mail: `GET`/`POST /v1/org/invitations`,
//! `DELETE /v1/org/invitations/{id}` (accepted at `POST /v1/auth/accept-invitation`).

use axum::Json as JsonOut;
use axum::http::StatusCode;
use trove_types::{AddMember, ChangeRole, Invitation, InviteRequest, Member};

use crate::auth::Made;
use crate::call::{Caller, EngineCall};
use crate::error::{ApiError, Json, Path};
use crate::openapi::{BadRequest, InvitationPath, MemberPath, NotFound};

/// `GET /v1/org/members`.
#[utoipa::path(
    get, path = "/v1/org/members", operation_id = "members_list", tag = "members",
    responses(
        (status = 200, description = "The organization's members, oldest first.", body = Vec<Member>),
        (status = 400, response = BadRequest),
    )
)]
pub async fn list(caller: Caller) -> Result<JsonOut<Vec<Member>>, ApiError> {
    caller.json(move |e, principal| e.members(principal)).await
}

/// `POST /v1/org/members`.
#[utoipa::path(
    post, path = "/v1/org/members", operation_id = "members_add", tag = "members",
    request_body = AddMember,
    responses(
        (status = 201, description = "The new member.", body = Member),
        (status = 400, response = BadRequest), (status = 404, response = NotFound),
    )
)]
pub async fn add(caller: Caller, Json(body): Json<AddMember>) -> Result<Made<Member>, ApiError> {
    let m = caller.run(move |e, principal| e.member_add(principal, &body.email, body.role)).await?;
    Ok(Made::created(format!("member:{}", m.id), m))
}

/// `PATCH /v1/org/members/{id}`.
#[utoipa::path(
    patch, path = "/v1/org/members/{id}", operation_id = "members_set_role", tag = "members",
    params(MemberPath), request_body = ChangeRole,
    responses(
        (status = 200, description = "The member with their new role.", body = Member),
        (status = 404, response = NotFound),
        (status = 409, description = "The last owner cannot be demoted (`last_owner`)."),
    )
)]
pub async fn set_role(
    caller: Caller,
    Path(id): Path<String>,
    Json(body): Json<ChangeRole>,
) -> Result<JsonOut<Member>, ApiError> {
    caller.json(move |e, principal| e.member_set_role(principal, &id, body.role)).await
}

/// `DELETE /v1/org/members/{id}`.
#[utoipa::path(
    delete, path = "/v1/org/members/{id}", operation_id = "members_remove", tag = "members",
    params(MemberPath),
    responses(
        (status = 204, description = "Removed; their sessions in the organization end."),
        (status = 404, response = NotFound),
        (status = 409, description = "The last owner cannot be removed (`last_owner`)."),
    )
)]
pub async fn remove(caller: Caller, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
    caller.no_content(move |e, principal| e.member_remove(principal, &id)).await
}

/// `GET /v1/org/invitations`.
#[utoipa::path(
    get, path = "/v1/org/invitations", operation_id = "invitations_list", tag = "members",
    responses(
        (status = 200, description = "The organization's invitations, newest first, with their status.", body = Vec<Invitation>),
    )
)]
pub async fn invitations(caller: Caller) -> Result<JsonOut<Vec<Invitation>>, ApiError> {
    caller.json(move |e, principal| e.invitations(principal)).await
}

/// `POST /v1/org/invitations`: mails the invited address a single-use link.
#[utoipa::path(
    post, path = "/v1/org/invitations", operation_id = "invitations_create", tag = "members",
    request_body = InviteRequest,
    responses(
        (status = 201, description = "The invitation (its link went by mail, never in the answer).", body = Invitation),
        (status = 400, response = BadRequest),
        (status = 409, description = "Already a member (`user_exists`)."),
        (status = 502, description = "The mail could not be sent (`mail_failed`)."),
    )
)]
pub async fn invite(caller: Caller, Json(body): Json<InviteRequest>) -> Result<Made<Invitation>, ApiError> {
    let i = caller.run(move |e, principal| e.invite(principal, &body.email, body.role)).await?;
    Ok(Made::created(format!("invitation:{}", i.id), i))
}

/// `DELETE /v1/org/invitations/{id}`: withdraws a pending invitation.
#[utoipa::path(
    delete, path = "/v1/org/invitations/{id}", operation_id = "invitations_revoke", tag = "members",
    params(InvitationPath),
    responses(
        (status = 204, description = "Withdrawn: its link no longer works."),
        (status = 404, response = NotFound),
    )
)]
pub async fn revoke_invitation(caller: Caller, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
    caller.no_content(move |e, principal| e.invitation_revoke(principal, &id)).await
}
