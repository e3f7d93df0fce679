//! How a `/v1` handler reaches the engine. Its extractor names who asks and carries the app
//! state: [`Caller`], the request's authenticated [`Principal`] (for the routes whose engine
//! operation decides what the principal may do: listing vaults and jobs, the audit log,
//! members, keys, teams, secrets, sessions), or [`crate::auth::Allowed`], the typed access to
//! the path's vault or job that the middleware decided. Through [`EngineCall`] the handler then
//! writes only its engine call: `run` runs it on tokio's blocking pool inside the request's
//! span ([`crate::blocking`]), `json` answers its result as JSON and `no_content` as `204`.

use axum::Json as JsonOut;
use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;
use trove_engine::auth::Principal;
use trove_engine::{Engine, EngineError};
use trove_types::Code;

use crate::error::ApiError;
use crate::{AppState, blocking};

/// Who asks, with the state to reach the engine; see the module documentation.
pub(crate) trait EngineCall: Sized + Send {
    /// The identity or access the engine call takes.
    type Who: Send + 'static;

    /// The app state and who asks.
    fn into_parts(self) -> (AppState, Self::Who);

    /// Runs `f` with who asks on the engine ([`crate::blocking`]).
    async fn run<T: Send + 'static>(
        self,
        f: impl FnOnce(&Engine, &Self::Who) -> Result<T, EngineError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let (state, who) = self.into_parts();
        blocking(&state, move |e| f(e, &who)).await
    }

    /// [`Self::run`], answering the result as JSON.
    async fn json<T: Send + 'static>(
        self,
        f: impl FnOnce(&Engine, &Self::Who) -> Result<T, EngineError> + Send + 'static,
    ) -> Result<JsonOut<T>, ApiError> {
        Ok(JsonOut(self.run(f).await?))
    }

    /// [`Self::run`] for an operation that answers nothing: `204 No Content`.
    async fn no_content(
        self,
        f: impl FnOnce(&Engine, &Self::Who) -> Result<(), EngineError> + Send + 'static,
    ) -> Result<StatusCode, ApiError> {
        self.run(f).await?;
        Ok(StatusCode::NO_CONTENT)
    }
}

/// The authenticated principal of the request (set by [`crate::auth::authorize`]), for a
/// route whose engine operation checks what it may do itself.
pub struct Caller {
    state: AppState,
    principal: Principal,
}

impl Caller {
    /// Who asks.
    pub fn principal(&self) -> &Principal {
        &self.principal
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let principal = parts.extensions.get::<Principal>().cloned().ok_or_else(|| {
            ApiError::new(
                Code::Internal,
                "no principal was decided for this route: it needs its row in auth::PERMISSIONS with an action",
            )
        })?;
        Ok(Caller { state: state.clone(), principal })
    }
}

impl EngineCall for Caller {
    type Who = Principal;

    fn into_parts(self) -> (AppState, Principal) {
        (self.state, self.principal)
    }
}
