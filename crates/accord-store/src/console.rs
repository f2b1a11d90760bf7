//! The web console's [`ConsoleStore`] on SQLite and PostgreSQL: accounts (`accounts`),
//! signed-in sessions (`console_sessions`), single-use links (`console_links`) and sign-in
//! failure counts (`sign_in_failures`).
use super::*;
use crate::users::{insert_user, load, Whose};
use accord_core::console::{Account, ConsoleSession, Link, LinkKind};
use accord_core::lifecycle::OutgoingMessage;
use accord_core::store::Redeem;
use accord_core::users::User;
use sea_query::OnConflict;
use sqlx::AnyConnection;

#[derive(FromRow)]
struct AccountRow {
    id: String,
    email: String,
    password_hash: Option<String>,
}

impl AccountRow {
    fn model(self) -> Result<Account> {
        Ok(Account {
            id: uid(&self.id)?,
            email: self.email,
            password_hash: self.password_hash,
        })
    }
}

#[derive(FromRow)]
struct SessionRow {
    digest: String,
    account_id: String,
    csrf: String,
    created_at: i64,
    last_seen_at: i64,
    expires_at: i64,
}

#[derive(FromRow)]
struct LinkRow {
    digest: String,
    kind: String,
    organization_id: Option<String>,
    user_id: Option<String>,
    account_id: Option<String>,
    expires_at: i64,
    used_at: Option<i64>,
    date_created: i64,
}

#[derive(FromRow)]
struct FailureRow {
    key: String,
    failures: i64,
    window_start: i64,
}

const LINK_COLUMNS: [&str; 8] = [
    "digest",
    "kind",
    "organization_id",
    "user_id",
    "account_id",
    "expires_at",
    "used_at",
    "date_created",
];

fn opt_id(v: Option<Uuid>) -> SimpleExpr {
    v.map(|u| u.to_string()).into()
}

fn opt_uid(v: Option<String>) -> Result<Option<Uuid>> {
    v.as_deref().map(uid).transpose()
}

pub(crate) async fn insert_link(db: &Db, ex: &mut AnyConnection, l: &Link) -> Result<()> {
    let mut q = Query::insert();
    q.into_table(a("console_links"))
        .columns(LINK_COLUMNS.map(a))
        .values_panic([
            l.digest.clone().into(),
            l.kind.as_str().into(),
            opt_id(l.organization_id),
            opt_id(l.user_id),
            opt_id(l.account_id),
            l.expires_at.into(),
            l.used_at.into(),
            l.date_created.into(),
        ]);
    exec(db, ex, &q).await?;
    Ok(())
}

async fn set_password(
    db: &Db,
    ex: &mut AnyConnection,
    account: Uuid,
    hash: &str,
    now: i64,
) -> Result<()> {
    let mut q = Query::update();
    q.table(a("accounts"))
        .value(a("password_hash"), hash)
        .value(a("date_updated"), now)
        .and_where(Expr::col(a("id")).eq(account.to_string()));
    if exec(db, &mut *ex, &q).await? == 0 {
        return Err(StoreError::Missing(Entity::Row));
    }
    Ok(())
}

/// Runs one write statement in a transaction of its own.
async fn write(s: &SqlStore, q: &impl sea_query::QueryStatementBuilder) -> Result<()> {
    let mut tx = s.db.begin_write().await?;
    exec(&s.db, &mut *tx, q).await?;
    tx.commit().await.map_err(db_err)
}

async fn end_sessions(db: &Db, ex: &mut AnyConnection, account: Uuid) -> Result<()> {
    let mut q = Query::delete();
    q.from_table(a("console_sessions"))
        .and_where(Expr::col(a("account_id")).eq(account.to_string()));
    exec(db, ex, &q).await?;
    Ok(())
}

#[async_trait::async_trait]
impl ConsoleStore for SqlStore {
    async fn account_by_email(&self, email: &str) -> Result<Option<Account>> {
        let mut q = Query::select();
        q.columns(["id", "email", "password_hash"].map(a))
            .from(a("accounts"))
            .and_where(Expr::col(a("email_lower")).eq(email.trim().to_lowercase()));
        let row: Option<AccountRow> = one(&self.db, &self.db.read, &q).await?;
        row.map(AccountRow::model).transpose()
    }

    async fn account(&self, id: Uuid) -> Result<Option<Account>> {
        let mut q = Query::select();
        q.columns(["id", "email", "password_hash"].map(a))
            .from(a("accounts"))
            .and_where(Expr::col(a("id")).eq(id.to_string()));
        let row: Option<AccountRow> = one(&self.db, &self.db.read, &q).await?;
        row.map(AccountRow::model).transpose()
    }

    async fn account_users(&self, account: Uuid) -> Result<Vec<User>> {
        load(self, Whose::Account(account)).await
    }

    async fn create_console_session(&self, s: &ConsoleSession) -> Result<()> {
        let mut q = Query::insert();
        q.into_table(a("console_sessions"))
            .columns(
                [
                    "digest",
                    "account_id",
                    "csrf",
                    "created_at",
                    "last_seen_at",
                    "expires_at",
                ]
                .map(a),
            )
            .values_panic([
                s.digest.clone().into(),
                s.account_id.to_string().into(),
                s.csrf.clone().into(),
                s.created_at.into(),
                s.last_seen_at.into(),
                s.expires_at.into(),
            ]);
        let mut tx = self.db.begin_write().await?;
        exec(&self.db, &mut *tx, &q).await?;
        // Sessions that ended are removed as new ones begin: the table stays small.
        let mut old = Query::delete();
        old.from_table(a("console_sessions"))
            .and_where(Expr::col(a("expires_at")).lt(s.created_at));
        exec(&self.db, &mut *tx, &old).await?;
        tx.commit().await.map_err(db_err)
    }

    async fn console_session(&self, digest: &str) -> Result<Option<ConsoleSession>> {
        let mut q = Query::select();
        q.columns(
            [
                "digest",
                "account_id",
                "csrf",
                "created_at",
                "last_seen_at",
                "expires_at",
            ]
            .map(a),
        )
        .from(a("console_sessions"))
        .and_where(Expr::col(a("digest")).eq(digest));
        let row: Option<SessionRow> = one(&self.db, &self.db.read, &q).await?;
        row.map(|r| {
            Ok(ConsoleSession {
                digest: r.digest,
                account_id: uid(&r.account_id)?,
                csrf: r.csrf,
                created_at: r.created_at,
                last_seen_at: r.last_seen_at,
                expires_at: r.expires_at,
            })
        })
        .transpose()
    }

    async fn touch_console_session(&self, digest: &str, now: i64, expires_at: i64) -> Result<()> {
        let mut q = Query::update();
        q.table(a("console_sessions"))
            .value(a("last_seen_at"), now)
            .value(a("expires_at"), expires_at)
            .and_where(Expr::col(a("digest")).eq(digest));
        write(self, &q).await
    }

    async fn delete_console_session(&self, digest: &str) -> Result<()> {
        let mut q = Query::delete();
        q.from_table(a("console_sessions"))
            .and_where(Expr::col(a("digest")).eq(digest));
        write(self, &q).await
    }

    async fn sign_in_failures(&self, keys: &[String]) -> Result<Vec<(i64, i64)>> {
        let mut q = Query::select();
        q.columns(["key", "failures", "window_start"].map(a))
            .from(a("sign_in_failures"))
            .and_where(Expr::col(a("key")).is_in(keys.iter().cloned()));
        let rows: Vec<FailureRow> = all(&self.db, &self.db.read, &q).await?;
        Ok(keys
            .iter()
            .map(|k| {
                rows.iter()
                    .find(|r| &r.key == k)
                    .map_or((0, 0), |r| (r.failures, r.window_start))
            })
            .collect())
    }

    async fn record_sign_in_failure(
        &self,
        keys: &[String],
        now: i64,
        window_ms: i64,
    ) -> Result<()> {
        let mut tx = self.db.begin_write().await?;
        for key in keys {
            let mut ins = Query::insert();
            ins.into_table(a("sign_in_failures"))
                .columns(["key", "failures", "window_start"].map(a))
                .values_panic([key.clone().into(), 0i64.into(), now.into()])
                .on_conflict(OnConflict::column(a("key")).do_nothing().to_owned());
            exec(&self.db, &mut *tx, &ins).await?;
            // A window that has ended starts again at this failure.
            let ended = Expr::col(a("window_start")).lte(now - window_ms);
            let mut up = Query::update();
            up.table(a("sign_in_failures"))
                .value(
                    a("failures"),
                    Expr::case(ended.clone(), 1i64).finally(Expr::col(a("failures")).add(1i64)),
                )
                .value(
                    a("window_start"),
                    Expr::case(ended, now).finally(Expr::col(a("window_start"))),
                )
                .and_where(Expr::col(a("key")).eq(key.clone()));
            exec(&self.db, &mut *tx, &up).await?;
        }
        tx.commit().await.map_err(db_err)
    }

    async fn clear_sign_in_failures(&self, key: &str) -> Result<()> {
        let mut q = Query::delete();
        q.from_table(a("sign_in_failures"))
            .and_where(Expr::col(a("key")).eq(key));
        write(self, &q).await
    }

    async fn create_link(&self, link: &Link, message: Option<&OutgoingMessage>) -> Result<()> {
        let mut tx = self.db.begin_write().await?;
        insert_link(&self.db, &mut tx, link).await?;
        if let Some(m) = message {
            crate::lifecycle::insert_message(self, &mut tx, m).await?;
        }
        tx.commit().await.map_err(db_err)
    }

    async fn link(&self, digest: &str) -> Result<Option<Link>> {
        let mut q = Query::select();
        q.columns(LINK_COLUMNS.map(a))
            .from(a("console_links"))
            .and_where(Expr::col(a("digest")).eq(digest));
        let row: Option<LinkRow> = one(&self.db, &self.db.read, &q).await?;
        row.map(|r| {
            Ok(Link {
                digest: r.digest,
                kind: LinkKind::parse(&r.kind)
                    .ok_or_else(|| StoreError::backend(format!("unknown link kind {}", r.kind)))?,
                organization_id: opt_uid(r.organization_id)?,
                user_id: opt_uid(r.user_id)?,
                account_id: opt_uid(r.account_id)?,
                expires_at: r.expires_at,
                used_at: r.used_at,
                date_created: r.date_created,
            })
        })
        .transpose()
    }

    async fn redeem_link(&self, digest: &str, now: i64, redeem: Redeem) -> Result<Option<Uuid>> {
        let mut tx = self.db.begin_write().await?;
        // Marking it used first makes the link single-use under concurrent redemptions:
        // only one of them updates the row.
        let mut up = Query::update();
        up.table(a("console_links"))
            .value(a("used_at"), now)
            .and_where(Expr::col(a("digest")).eq(digest))
            .and_where(Expr::col(a("used_at")).is_null())
            .and_where(Expr::col(a("expires_at")).gt(now));
        if exec(&self.db, &mut *tx, &up).await? == 0 {
            return Ok(None);
        }
        let mut q = Query::select();
        q.columns(LINK_COLUMNS.map(a))
            .from(a("console_links"))
            .and_where(Expr::col(a("digest")).eq(digest));
        let row: LinkRow = one(&self.db, &mut *tx, &q)
            .await?
            .ok_or(StoreError::Missing(Entity::Row))?;
        let account = match redeem {
            Redeem::Password(hash) => {
                let account = opt_uid(row.account_id)?.ok_or(StoreError::Missing(Entity::Row))?;
                set_password(&self.db, &mut tx, account, &hash, now).await?;
                if let Some(user) = opt_uid(row.user_id)? {
                    let mut q = Query::update();
                    q.table(a("users"))
                        .value(a("status"), "active")
                        .value(a("date_updated"), now)
                        .and_where(Expr::col(a("id")).eq(user.to_string()))
                        .and_where(Expr::col(a("status")).eq("pending"));
                    exec(&self.db, &mut *tx, &q).await?;
                } else {
                    // A password reset: every browser signed in with the old password is
                    // signed out.
                    end_sessions(&self.db, &mut tx, account).await?;
                }
                account
            }
            Redeem::Setup(user, hash) => {
                let u = insert_user(self, &mut tx, &user).await?;
                set_password(&self.db, &mut tx, u.account_id, &hash, now).await?;
                u.account_id
            }
        };
        tx.commit().await.map_err(db_err)?;
        Ok(Some(account))
    }
}
