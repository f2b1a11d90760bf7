//! The one INSERT of an identity, shared by every path that creates one: compliance
//! requests and consent events that name a new person, and the anonymous identity of a
//! new site session.
use crate::{a, SqlStore, Tx};
use accord_core::compliance;
use accord_core::ids::new_id;
use accord_core::store::Project;
use accord_core::store::StoreResult as Result;
use accord_core::time::now_ms;
use sea_query::{OnConflict, Query};
use uuid::Uuid;

/// The identifiers a new identity starts with, as given (trimmed); all may be absent.
#[derive(Debug, Default)]
pub(crate) struct IdentityKeys {
    pub email: Option<String>,
    pub phone_number: Option<String>,
    pub user_id: Option<String>,
    pub project_user_id: Option<String>,
}

/// Inserts a new identity of `project`; `None` when a concurrent insert took one of its
/// unique identifiers first (the caller looks it up again).
pub(crate) async fn insert_identity(
    s: &SqlStore,
    ex: &mut Tx<'_>,
    project: &Project,
    keys: &IdentityKeys,
) -> Result<Option<Uuid>> {
    let id = new_id();
    let now = now_ms();
    let email_lower = keys.email.as_deref().map(str::to_lowercase);
    let phone = keys
        .phone_number
        .as_deref()
        .map(compliance::normalize_phone)
        .filter(|p| !p.is_empty());
    let mut q = Query::insert();
    q.into_table(a("identities"))
        .columns(
            [
                "id",
                "organization_id",
                "project_id",
                "email",
                "email_lower",
                "email_sha256",
                "phone_number",
                "phone_normalized",
                "user_id",
                "project_user_id",
                "date_created",
                "date_updated",
            ]
            .map(a),
        )
        .values_panic([
            id.to_string().into(),
            project.organization_id.to_string().into(),
            project.id.to_string().into(),
            keys.email.clone().into(),
            email_lower.clone().into(),
            email_lower.as_deref().map(accord_core::auth::digest).into(),
            keys.phone_number.clone().into(),
            phone.into(),
            keys.user_id.clone().into(),
            keys.project_user_id.clone().into(),
            now.into(),
            now.into(),
        ]);
    q.on_conflict(OnConflict::new().do_nothing().to_owned());
    Ok((ex.exec(&s.db, &q).await? == 1).then_some(id))
}
