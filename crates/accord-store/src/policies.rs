//! Policies of an organization (§7.9): the [`PolicyStore`] of SQLite and PostgreSQL.
use super::*;
use accord_core::policies::Policy;

const POLICY_COLUMNS: [&str; 12] = [
    "id",
    "organization_id",
    "type",
    "name",
    "status",
    "description",
    "answers",
    "html",
    "associated_projects",
    "include_cookies",
    "date_created",
    "date_updated",
];

#[derive(FromRow)]
struct PolicyRow {
    id: String,
    organization_id: String,
    #[sqlx(rename = "type")]
    policy_type: String,
    name: String,
    status: String,
    description: Option<String>,
    answers: String,
    html: String,
    associated_projects: String,
    include_cookies: i64,
    date_created: i64,
    date_updated: i64,
}

impl PolicyRow {
    fn into_policy(self) -> Result<Policy> {
        fn parse<T: serde::de::DeserializeOwned>(t: &str) -> Result<T> {
            serde_json::from_str(t).map_err(StoreError::backend)
        }
        Ok(Policy {
            id: uid(&self.id)?,
            organization_id: uid(&self.organization_id)?,
            policy_type: self.policy_type,
            name: self.name,
            status: self.status,
            description: self.description,
            answers: parse(&self.answers)?,
            html: self.html,
            associated_projects: parse(&self.associated_projects)?,
            include_cookies: self.include_cookies != 0,
            date_created: self.date_created,
            date_updated: self.date_updated,
        })
    }
}

fn json<T: serde::Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(StoreError::backend)
}

fn policy_values(p: &Policy) -> Result<Vec<SimpleExpr>> {
    Ok(vec![
        p.id.to_string().into(),
        p.organization_id.to_string().into(),
        p.policy_type.clone().into(),
        p.name.clone().into(),
        p.status.clone().into(),
        p.description.clone().into(),
        json(&p.answers)?.into(),
        p.html.clone().into(),
        json(&p.associated_projects)?.into(),
        i64::from(p.include_cookies).into(),
        p.date_created.into(),
        p.date_updated.into(),
    ])
}

fn in_org(org: Uuid) -> SimpleExpr {
    Expr::col(a("organization_id")).eq(org.to_string())
}

#[async_trait::async_trait]
impl PolicyStore for SqlStore {
    async fn list_policies(&self, org: Uuid) -> Result<Vec<Policy>> {
        let mut q = Query::select();
        q.columns(POLICY_COLUMNS.map(a))
            .from(a("policies"))
            .and_where(in_org(org));
        let rows: Vec<PolicyRow> = all(&self.db, &self.db.read, &q).await?;
        rows.into_iter().map(PolicyRow::into_policy).collect()
    }

    async fn get_policy(&self, org: Uuid, id: Uuid) -> Result<Option<Policy>> {
        let mut q = Query::select();
        q.columns(POLICY_COLUMNS.map(a))
            .from(a("policies"))
            .and_where(in_org(org))
            .and_where(Expr::col(a("id")).eq(id.to_string()));
        let row: Option<PolicyRow> = one(&self.db, &self.db.read, &q).await?;
        row.map(PolicyRow::into_policy).transpose()
    }

    async fn create_policy(&self, p: &Policy) -> Result<()> {
        let mut q = Query::insert();
        q.into_table(a("policies"))
            .columns(POLICY_COLUMNS.map(a))
            .values_panic(policy_values(p)?);
        exec(&self.db, &self.db.write, &q).await.map(|_| ())
    }

    async fn update_policy(&self, p: &Policy) -> Result<()> {
        let mut q = Query::update();
        q.table(a("policies"))
            .values(
                POLICY_COLUMNS
                    .iter()
                    .zip(policy_values(p)?)
                    .filter(|(c, _)| !["id", "organization_id", "date_created"].contains(*c))
                    .map(|(c, v)| (a(c), v)),
            )
            .and_where(in_org(p.organization_id))
            .and_where(Expr::col(a("id")).eq(p.id.to_string()));
        if exec(&self.db, &self.db.write, &q).await? == 0 {
            return Err(StoreError::Missing(Entity::Row));
        }
        Ok(())
    }

    async fn delete_policy(&self, org: Uuid, id: Uuid) -> Result<()> {
        let mut q = Query::delete();
        q.from_table(a("policies"))
            .and_where(in_org(org))
            .and_where(Expr::col(a("id")).eq(id.to_string()));
        exec(&self.db, &self.db.write, &q).await.map(|_| ())
    }

    async fn policy_count(&self, org: Uuid) -> Result<i64> {
        let mut q = Query::select();
        q.expr(Expr::cust("COUNT(*)"))
            .from(a("policies"))
            .and_where(in_org(org));
        read_count(&self.db, &q).await
    }
}
