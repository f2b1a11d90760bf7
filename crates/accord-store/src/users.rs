//! Users (§7.5): the [`UserStore`] of SQLite and PostgreSQL. A membership lives in `users`,
//! its per-project roles in `user_permissions`; the account of its email (one per address
//! across the server) in `accounts`, found or created in the same transaction.
use super::*;
use accord_core::console::Link;
use accord_core::lifecycle::OutgoingMessage;
use accord_core::users::{Profile, User};
use sea_query::OnConflict;
use sqlx::AnyConnection;

const USER_COLUMNS: [&str; 15] = [
    "id",
    "organization_id",
    "account_id",
    "email",
    "email_lower",
    "status",
    "name",
    "notes",
    "role",
    "first_name",
    "last_name",
    "phone_number",
    "invite_date",
    "date_created",
    "date_updated",
];

/// The columns an update writes.
const UPDATED: [&str; 8] = [
    "status",
    "name",
    "notes",
    "role",
    "first_name",
    "last_name",
    "phone_number",
    "date_updated",
];

#[derive(FromRow)]
struct UserRow {
    id: String,
    organization_id: String,
    account_id: String,
    email: String,
    status: String,
    name: Option<String>,
    notes: Option<String>,
    role: String,
    first_name: Option<String>,
    last_name: Option<String>,
    phone_number: Option<String>,
    invite_date: i64,
    date_created: i64,
    date_updated: i64,
}

#[derive(FromRow)]
struct PermissionRow {
    user_id: String,
    project_id: String,
    role: String,
}

fn role(s: &str) -> Result<Role> {
    Role::parse(s).ok_or_else(|| StoreError::backend(format!("unknown role {s}")))
}

fn user_values(u: &User) -> Vec<(&'static str, SimpleExpr)> {
    USER_COLUMNS
        .iter()
        .copied()
        .zip([
            u.id.to_string().into(),
            u.organization_id.to_string().into(),
            u.account_id.to_string().into(),
            u.email.clone().into(),
            u.email.to_lowercase().into(),
            u.status.clone().into(),
            u.name.clone().into(),
            u.notes.clone().into(),
            u.role.as_str().into(),
            u.profile.first_name.clone().into(),
            u.profile.last_name.clone().into(),
            u.profile.phone_number.clone().into(),
            u.invite_date.into(),
            u.date_created.into(),
            u.date_updated.into(),
        ])
        .collect()
}

/// Which users [`load`] reads.
pub(crate) enum Whose {
    /// The users of an organization, or one of them.
    Organization(Uuid, Option<Uuid>),
    /// The memberships of an account across organizations.
    Account(Uuid),
}

/// Users with their permissions in order.
pub(crate) async fn load(s: &SqlStore, whose: Whose) -> Result<Vec<User>> {
    let mut q = Query::select();
    q.columns(
        USER_COLUMNS
            .iter()
            .filter(|c| **c != "email_lower")
            .map(|c| a(c)),
    )
    .from(a("users"));
    let mut perms = Query::select();
    perms
        .columns(["user_id", "project_id", "role"].map(a))
        .from(a("user_permissions"))
        .order_by(a("position"), Order::Asc);
    match whose {
        Whose::Organization(org, id) => {
            q.and_where(Expr::col(a("organization_id")).eq(org.to_string()));
            perms.and_where(Expr::col(a("organization_id")).eq(org.to_string()));
            if let Some(id) = id {
                q.and_where(Expr::col(a("id")).eq(id.to_string()));
                perms.and_where(Expr::col(a("user_id")).eq(id.to_string()));
            }
        }
        Whose::Account(account) => {
            q.and_where(Expr::col(a("account_id")).eq(account.to_string()))
                .order_by(a("date_created"), Order::Asc);
            perms.and_where(
                Expr::col(a("user_id")).in_subquery(
                    Query::select()
                        .column(a("id"))
                        .from(a("users"))
                        .and_where(Expr::col(a("account_id")).eq(account.to_string()))
                        .to_owned(),
                ),
            );
        }
    }
    let rows: Vec<UserRow> = all(&s.db, &s.db.read, &q).await?;
    let perm_rows: Vec<PermissionRow> = all(&s.db, &s.db.read, &perms).await?;
    let mut by_user: HashMap<String, Vec<(Uuid, Role)>> = HashMap::new();
    for p in perm_rows {
        by_user
            .entry(p.user_id)
            .or_default()
            .push((uid(&p.project_id)?, role(&p.role)?));
    }
    rows.into_iter()
        .map(|r| {
            Ok(User {
                id: uid(&r.id)?,
                organization_id: uid(&r.organization_id)?,
                account_id: uid(&r.account_id)?,
                email: r.email,
                status: r.status,
                name: r.name,
                notes: r.notes,
                role: role(&r.role)?,
                permissions: by_user.remove(&r.id).unwrap_or_default(),
                profile: Profile {
                    first_name: r.first_name,
                    last_name: r.last_name,
                    phone_number: r.phone_number,
                },
                invite_date: r.invite_date,
                date_created: r.date_created,
                date_updated: r.date_updated,
            })
        })
        .collect()
}

/// The account of `email` (case-insensitive), created when there is none. A concurrent
/// creation of the same account is absorbed by the unique key on `email_lower`.
/// Inserts a user, finding or creating its account; returns it with its `account_id`.
pub(crate) async fn insert_user(s: &SqlStore, ex: &mut AnyConnection, user: &User) -> Result<User> {
    let mut u = user.clone();
    u.account_id = account_of(&s.db, &mut *ex, &u.email, u.date_created).await?;
    let (columns, values): (Vec<_>, Vec<_>) = user_values(&u).into_iter().unzip();
    let mut q = Query::insert();
    q.into_table(a("users"))
        .columns(columns.into_iter().map(a))
        .values_panic(values);
    let (sql, binds) = s.db.sql(&q);
    match sqlx::query_with(&sql, binds).execute(&mut *ex).await {
        Ok(_) => {}
        Err(e) if is_unique_violation(&e) => return Err(StoreError::Duplicate(Key::UserEmail)),
        Err(e) => return Err(db_err(e)),
    }
    write_permissions(&s.db, ex, &u).await?;
    Ok(u)
}

pub(crate) async fn account_of(
    db: &Db,
    ex: &mut AnyConnection,
    email: &str,
    now: i64,
) -> Result<Uuid> {
    let lower = email.to_lowercase();
    let mut ins = Query::insert();
    ins.into_table(a("accounts"))
        .columns(["id", "email", "email_lower", "date_created", "date_updated"].map(a))
        .values_panic([
            new_id().to_string().into(),
            email.into(),
            lower.clone().into(),
            now.into(),
            now.into(),
        ])
        .on_conflict(OnConflict::column(a("email_lower")).do_nothing().to_owned());
    exec(db, &mut *ex, &ins).await?;
    let mut q = Query::select();
    q.column(a("id"))
        .from(a("accounts"))
        .and_where(Expr::col(a("email_lower")).eq(lower));
    let row: Option<IdRow> = one(db, &mut *ex, &q).await?;
    uid(&row.ok_or(StoreError::Missing(Entity::Row))?.id)
}

async fn write_permissions(db: &Db, ex: &mut AnyConnection, u: &User) -> Result<()> {
    let mut del = Query::delete();
    del.from_table(a("user_permissions"))
        .and_where(Expr::col(a("user_id")).eq(u.id.to_string()));
    exec(db, &mut *ex, &del).await?;
    if u.permissions.is_empty() {
        return Ok(());
    }
    let mut ins = Query::insert();
    ins.into_table(a("user_permissions")).columns(
        [
            "user_id",
            "organization_id",
            "project_id",
            "role",
            "position",
        ]
        .map(a),
    );
    for (i, (project, r)) in u.permissions.iter().enumerate() {
        ins.values_panic([
            u.id.to_string().into(),
            u.organization_id.to_string().into(),
            project.to_string().into(),
            r.as_str().into(),
            (i as i64).into(),
        ]);
    }
    exec(db, &mut *ex, &ins).await?;
    Ok(())
}

/// Deletes the accounts with no membership left and no password: nothing keeps an email
/// address that no organization holds any more.
async fn drop_orphan_accounts(db: &Db, ex: &mut AnyConnection) -> Result<()> {
    let mut q = Query::delete();
    q.from_table(a("accounts"))
        .and_where(Expr::col(a("password_hash")).is_null())
        .and_where(
            Expr::col(a("id")).not_in_subquery(
                Query::select()
                    .column(a("account_id"))
                    .from(a("users"))
                    .to_owned(),
            ),
        );
    exec(db, &mut *ex, &q).await?;
    Ok(())
}

/// The users of an organization being deleted, with their permissions, invitations and
/// the accounts they leave without any membership.
pub(crate) async fn delete_for_organization(
    db: &Db,
    ex: &mut AnyConnection,
    org: &str,
) -> Result<()> {
    for table in ["console_links", "user_permissions", "users"] {
        let mut q = Query::delete();
        q.from_table(a(table))
            .and_where(Expr::col(a("organization_id")).eq(org));
        exec(db, &mut *ex, &q).await?;
    }
    drop_orphan_accounts(db, ex).await
}

#[async_trait::async_trait]
impl UserStore for SqlStore {
    async fn list_users(&self, org: Uuid) -> Result<Vec<User>> {
        load(self, Whose::Organization(org, None)).await
    }

    async fn get_user(&self, org: Uuid, id: Uuid) -> Result<Option<User>> {
        Ok(load(self, Whose::Organization(org, Some(id))).await?.pop())
    }

    async fn create_user(
        &self,
        user: &User,
        invitation: Option<(&Link, &OutgoingMessage)>,
    ) -> Result<User> {
        let mut tx = self.db.begin_write().await?;
        let u = insert_user(self, &mut tx, user).await?;
        if let Some((link, message)) = invitation {
            let mut link = link.clone();
            link.user_id = Some(u.id);
            link.account_id = Some(u.account_id);
            crate::console::insert_link(&self.db, &mut tx, &link).await?;
            crate::lifecycle::insert_message(self, &mut tx, message).await?;
        }
        tx.commit().await.map_err(db_err)?;
        Ok(u)
    }

    async fn update_user(&self, u: &User) -> Result<()> {
        let mut tx = self.db.begin_write().await?;
        let mut q = Query::update();
        q.table(a("users"))
            .values(
                user_values(u)
                    .into_iter()
                    .filter(|(c, _)| UPDATED.contains(c))
                    .map(|(c, v)| (a(c), v)),
            )
            .and_where(Expr::col(a("organization_id")).eq(u.organization_id.to_string()))
            .and_where(Expr::col(a("id")).eq(u.id.to_string()));
        if exec(&self.db, &mut *tx, &q).await? == 0 {
            return Err(StoreError::Missing(Entity::Row));
        }
        write_permissions(&self.db, &mut tx, u).await?;
        tx.commit().await.map_err(db_err)
    }

    async fn delete_user(&self, org: Uuid, id: Uuid) -> Result<()> {
        let mut tx = self.db.begin_write().await?;
        for (table, column) in [
            ("console_links", "user_id"),
            ("user_permissions", "user_id"),
            ("users", "id"),
        ] {
            let mut q = Query::delete();
            q.from_table(a(table))
                .and_where(Expr::col(a("organization_id")).eq(org.to_string()))
                .and_where(Expr::col(a(column)).eq(id.to_string()));
            exec(&self.db, &mut *tx, &q).await?;
        }
        drop_orphan_accounts(&self.db, &mut tx).await?;
        tx.commit().await.map_err(db_err)
    }

    async fn user_count(&self, org: Uuid) -> Result<i64> {
        let mut q = Query::select();
        q.expr(Expr::cust("COUNT(*)"))
            .from(a("users"))
            .and_where(Expr::col(a("organization_id")).eq(org.to_string()));
        read_count(&self.db, &q).await
    }
}
