//! Tenancy in the embedded store, one module per trait of [`crate::TenancyStore`]: `users`
//! ([`crate::UserStore`]: users and their single-use tokens), `organizations`
//! ([`crate::OrganizationStore`]: organizations, members, invitations), `grants`
//! ([`crate::GrantStore`]: teams and vault grants), `credentials` ([`crate::CredentialStore`]:
//! API keys and login sessions) and `secrets` ([`crate::SecretStore`]). Guarded changes (a
//! token used once, the last owner kept, the session cap) each run in one SQLite transaction,
//! which the single writer connection serialises.

mod credentials;
mod grants;
mod organizations;
mod secrets;
mod users;
