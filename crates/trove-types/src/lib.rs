//! Types shared by every layer of Trove: the one table of error codes (with their HTTP status,
//! CLI exit code and documentation) and the error reference generated from it, search modes and hits, ingest summaries, memories, documents and
//! vaults as the transports list them, reading around hits (context, similar documents, ingest
//! status), and jobs.
//!
//! This crate has no logic beyond formatting; it exists so that the engine, the CLI, the HTTP
//! server and the MCP server describe the same things with the same types, and so that an
//! error means the same thing whichever transport reports it. The types the HTTP API sends and
//! receives derive `utoipa::ToSchema`, so the server's OpenAPI document describes them from
//! this code.

pub mod answer;
pub mod auth;
pub mod document;
pub mod error;
pub mod error_reference;
pub mod explore;
pub mod job;
pub mod memory;
pub mod search;

pub use answer::{
    AnswerResponse, AnswerUsage, Citation, CitationKind, Conversation, ConversationPage, ConversationSummary,
    ConversationTurn,
};
pub use auth::{
    AcceptInvitation, Action, AddMember, AddTeamMember, ApiKeyInfo, AuditEvent, AuditPage, AuditQuery, ChangeRole,
    ClientKind, CreateTeam, CreatedApiKey, EmailRequest, GrantLevel, GrantRequest, Invitation, InviteRequest,
    JoinedOrganization, LoginRequest, LoginResponse, Me, Member, MintRequest, MintedToken, PasswordResetConfirm,
    PutSecret, RegisterRequest, Registered, Role, SecretInfo, SessionInfo, Team, TeamMember, TokenRequest, VaultGrant,
};
pub use document::{
    DocumentChunk, DocumentDetail, DocumentPage, DocumentSummary, Reembedding, SourceSummary, SourceSync, VaultSummary,
};
pub use error::{Code, ERRORS_PATH, ErrorBody, ErrorKind, HasCode};
pub use explore::{
    ChunkContext, ContextChunk, ContextDocument, ContextRequest, IngestStatus, JobBrief, SimilarDocument,
    SimilarDocuments, SimilarRequest,
};
pub use job::{Job, JobError, JobPage, JobProgress, JobQuery, UploadDocument, UploadRequest};
pub use memory::{
    Memory, MemoryHit, MemoryInput, MemoryPage, MemoryQuery, MemoryScope, MemoryStatsResponse, MemoryUpdate,
};
pub use search::{Fusion, FusionMethod, GroupBy, IngestSummary, SearchFilters, SearchHit, SearchMode, SearchResponse};
