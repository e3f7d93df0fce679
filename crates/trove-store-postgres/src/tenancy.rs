//! Tenancy in PostgreSQL: users (emails unique without regard to case, through the
//! `lower(email)` index), organizations and their members, API keys (only a hash of each
//! secret), login sessions with a per-user cap, single-use user tokens, invitations, teams and
//! vault grants. The same behaviour as the embedded store's, made safe for
//! several server processes writing at once: every check-then-write runs under a row lock (the
//! user's row for the session cap and for new tokens, the organization's row for membership
//! changes) or is one conditional `UPDATE … RETURNING` (tokens and invitations used once).
//!
//! One module per trait of [`trove_store::TenancyStore`], as in the embedded store: `users`
//! (users and their single-use tokens), `organizations` (organizations, members, invitations),
//! `grants` (teams and vault grants), `credentials` (API keys and sessions) and `secrets`
//! (sealed by the engine).

mod credentials;
mod grants;
mod organizations;
mod secrets;
mod users;

/// SQL for 24 random lowercase hex digits, the shape of the embedded store's
/// `lower(hex(randomblob(12)))`: the first 12 digits of two random UUIDs, which are all random
/// (a v4 UUID's fixed version and variant digits come later).
const RANDOM_HEX24: &str =
    "left(replace(gen_random_uuid()::text, '-', ''), 12) || left(replace(gen_random_uuid()::text, '-', ''), 12)";

#[cfg(test)]
mod tests;
