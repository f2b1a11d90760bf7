//! What storage reports, in storage terms: a key already taken, a row missing or still
//! referenced, a refusal decided inside a transaction, an unreachable or failing database.
//! The store writes no contract text; [`From<StoreError> for Error`](crate::Error) is the
//! one place where these become the contract's statuses and messages (§1.5).
use crate::Error;

/// A storage failure. Nothing of the failed call was written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// A unique key already holds a row.
    #[error("{0:?} already exists")]
    Duplicate(Key),
    /// A row the call names does not exist (or no longer does).
    #[error("{0:?} not found")]
    Missing(Entity),
    /// The row cannot be removed while others refer to it.
    #[error("{0:?} is still referenced")]
    Referenced(Entity),
    /// A rule applied inside the transaction refused the change.
    #[error(transparent)]
    Refused(Error),
    /// The database cannot be reached.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// Anything else the database, or a stored value it returned, reported.
    #[error("storage: {0}")]
    Backend(String),
}

/// The unique keys a write can collide with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    OrganizationSlug,
    /// A domain of a project (§7.7).
    ProjectDomain,
    /// Category, subcategory and label of a consent type of a project (§4.1).
    ConsentType,
    /// A send-from address of an organization (§7.6).
    SendFromEmail,
    /// A data-system attribute's name (§6.3).
    Attribute,
    /// A location code of a Region of a project (§7.8).
    RegionCode,
    /// A user's email in an organization (§7.5).
    UserEmail,
    /// `(type, name, domain)` of a tracker of a project (§8.2).
    Tracker,
    /// The one running scan of a project (§8.3).
    RunningScan,
}

/// The rows a call can find missing or still referenced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entity {
    /// The addressed row itself.
    Row,
    /// The identity a submission names by `concordId` (§3.5).
    Identity,
    /// The consent type an event names (§4.3), or that events still reference (§4.1).
    ConsentType,
    /// The identify context a site session names (§5.6).
    IdentifyContext,
}

pub type StoreResult<T, E = StoreError> = std::result::Result<T, E>;

impl StoreError {
    pub fn backend(detail: impl std::fmt::Display) -> StoreError {
        StoreError::Backend(detail.to_string())
    }
}

/// A rule's refusal passes through storage unchanged; an internal failure is a backend one.
impl From<Error> for StoreError {
    fn from(e: Error) -> StoreError {
        match e {
            Error::Internal(detail) => StoreError::Backend(detail),
            Error::Unavailable(detail) => StoreError::Unavailable(detail),
            other => StoreError::Refused(other),
        }
    }
}

/// The contract's meaning of each storage failure.
impl From<StoreError> for Error {
    fn from(e: StoreError) -> Error {
        match e {
            StoreError::Duplicate(key) => Error::unprocessable(match key {
                Key::OrganizationSlug => "organizationSlug already exists",
                Key::ProjectDomain => crate::site::DOMAIN_EXISTS,
                Key::ConsentType => crate::consent::TYPE_EXISTS,
                Key::SendFromEmail => "email already exists in this organization",
                Key::Attribute => crate::datamap::DUPLICATE,
                Key::RegionCode => crate::regions::CODE_TAKEN,
                Key::UserEmail => crate::users::EMAIL_TAKEN,
                Key::Tracker => crate::trackers::TRACKER_EXISTS,
                Key::RunningScan => crate::scans::SCAN_RUNNING,
            }),
            StoreError::Missing(Entity::Row) => Error::not_found(),
            StoreError::Missing(Entity::Identity) => {
                Error::unprocessable("concordId not found in this project")
            }
            StoreError::Missing(Entity::ConsentType) => {
                Error::unprocessable(crate::consent::TYPE_NOT_FOUND)
            }
            StoreError::Missing(Entity::IdentifyContext) => {
                Error::unprocessable(crate::site::CONTEXT_NOT_FOUND)
            }
            StoreError::Referenced(Entity::ConsentType) => {
                Error::unprocessable(crate::consent::HAS_EVENTS)
            }
            StoreError::Referenced(_) => Error::unprocessable("still referenced"),
            StoreError::Refused(e) => e,
            StoreError::Unavailable(detail) => Error::Unavailable(detail),
            StoreError::Backend(detail) => Error::Internal(detail),
        }
    }
}
