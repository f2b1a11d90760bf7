//! Regions of a project (§7.8): the [`RegionStore`] of SQLite and PostgreSQL, the Regions
//! written with a new project, and the Default region migration 10 gives every project
//! that exists by then.
use super::*;
use accord_core::regions::{code_taken, Region, RegionDraft};
use sqlx::AnyConnection;

const REGION_COLUMNS: [&str; 10] = [
    "id",
    "organization_id",
    "project_id",
    "name",
    "is_default",
    "custom_script",
    "settings",
    "language",
    "date_created",
    "date_updated",
];

#[derive(FromRow)]
struct RegionRow {
    id: String,
    organization_id: String,
    project_id: String,
    name: String,
    is_default: i64,
    custom_script: Option<String>,
    settings: String,
    language: String,
    date_created: i64,
    date_updated: i64,
}

#[derive(FromRow)]
struct CodeRow {
    region_id: String,
    code: String,
}

fn region_values(r: &Region) -> Result<Vec<sea_query::SimpleExpr>> {
    let json = |v: &serde_json::Value| serde_json::to_string(v).map_err(StoreError::backend);
    Ok(vec![
        r.id.to_string().into(),
        r.organization_id.to_string().into(),
        r.project_id.to_string().into(),
        r.draft.name.clone().into(),
        i64::from(r.draft.is_default).into(),
        r.draft.custom_script.clone().into(),
        json(&r.draft.settings)?.into(),
        json(&r.draft.language)?.into(),
        r.date_created.into(),
        r.date_updated.into(),
    ])
}

/// Regions of one project (or one Region of it) with their codes in order.
async fn load(s: &SqlStore, projects: &[Uuid], id: Option<Uuid>) -> Result<Vec<Region>> {
    if projects.is_empty() {
        return Ok(vec![]);
    }
    let ids = || projects.iter().map(Uuid::to_string);
    let mut q = Query::select();
    q.columns(REGION_COLUMNS.map(a))
        .from(a("regions"))
        .and_where(Expr::col(a("project_id")).is_in(ids()));
    let mut codes = Query::select();
    codes
        .columns(["region_id", "code"].map(a))
        .from(a("region_codes"))
        .and_where(Expr::col(a("project_id")).is_in(ids()))
        .order_by(a("position"), Order::Asc);
    if let Some(id) = id {
        q.and_where(Expr::col(a("id")).eq(id.to_string()));
        codes.and_where(Expr::col(a("region_id")).eq(id.to_string()));
    }
    let rows: Vec<RegionRow> = all(&s.db, &s.db.read, &q).await?;
    let code_rows: Vec<CodeRow> = all(&s.db, &s.db.read, &codes).await?;
    let mut by_region: HashMap<String, Vec<String>> = HashMap::new();
    for c in code_rows {
        by_region.entry(c.region_id).or_default().push(c.code);
    }
    rows.into_iter()
        .map(|r| {
            let parse = |t: &str| serde_json::from_str(t).map_err(StoreError::backend);
            Ok(Region {
                id: uid(&r.id)?,
                organization_id: uid(&r.organization_id)?,
                project_id: uid(&r.project_id)?,
                draft: RegionDraft {
                    name: r.name,
                    is_default: r.is_default != 0,
                    regions: by_region.remove(&r.id).unwrap_or_default(),
                    custom_script: r.custom_script,
                    settings: parse(&r.settings)?,
                    language: parse(&r.language)?,
                },
                date_created: r.date_created,
                date_updated: r.date_updated,
            })
        })
        .collect()
}

/// Writes the codes of `r` after checking that no other Region of the project holds one
/// of them (the primary key of `region_codes` backs the check against concurrent writes).
async fn write_codes(db: &Db, ex: &mut AnyConnection, r: &Region) -> Result<()> {
    let mut taken = Query::select();
    taken
        .column(a("code"))
        .from(a("region_codes"))
        .and_where(Expr::col(a("project_id")).eq(r.project_id.to_string()))
        .and_where(Expr::col(a("region_id")).ne(r.id.to_string()))
        .and_where(Expr::col(a("code")).is_in(r.draft.regions.iter().cloned()));
    #[derive(FromRow)]
    struct Taken {
        code: String,
    }
    let held: Vec<Taken> = all(db, &mut *ex, &taken).await?;
    if let Some(code) = r
        .draft
        .regions
        .iter()
        .find(|c| held.iter().any(|h| &h.code == *c))
    {
        return Err(StoreError::Refused(accord_core::Error::unprocessable(
            code_taken(code),
        )));
    }
    let mut del = Query::delete();
    del.from_table(a("region_codes"))
        .and_where(Expr::col(a("region_id")).eq(r.id.to_string()));
    exec(db, &mut *ex, &del).await?;
    if r.draft.regions.is_empty() {
        return Ok(());
    }
    let mut ins = Query::insert();
    ins.into_table(a("region_codes")).columns(
        [
            "organization_id",
            "project_id",
            "region_id",
            "code",
            "position",
        ]
        .map(a),
    );
    for (i, code) in r.draft.regions.iter().enumerate() {
        ins.values_panic([
            r.organization_id.to_string().into(),
            r.project_id.to_string().into(),
            r.id.to_string().into(),
            code.clone().into(),
            (i as i64).into(),
        ]);
    }
    let (sql, values) = db.sql(&ins);
    match sqlx::query_with(&sql, values).execute(&mut *ex).await {
        Ok(_) => Ok(()),
        Err(e) if is_unique_violation(&e) => Err(StoreError::Duplicate(Key::RegionCode)),
        Err(e) => Err(db_err(e)),
    }
}

/// Inserts a Region and its codes.
pub(crate) async fn insert(db: &Db, ex: &mut AnyConnection, r: &Region) -> Result<()> {
    let mut q = Query::insert();
    q.into_table(a("regions"))
        .columns(REGION_COLUMNS.map(a))
        .values_panic(region_values(r)?);
    exec(db, &mut *ex, &q).await?;
    write_codes(db, ex, r).await
}

/// The Regions of a new project: `drafts`, or the Default region when there are none; a
/// banner without a policy gets the project's `privacy_policy` type.
pub(crate) async fn insert_for_project(
    db: &Db,
    ex: &mut AnyConnection,
    project: &Project,
    drafts: &[RegionDraft],
    privacy_policy: Option<Uuid>,
) -> Result<()> {
    let defaults = [RegionDraft::default_region()];
    let drafts = if drafts.is_empty() {
        &defaults[..]
    } else {
        drafts
    };
    for (i, d) in drafts.iter().enumerate() {
        let mut d = d.clone();
        d.fill_policy(privacy_policy);
        // Distinct, increasing creation times keep the Default region first in the list.
        let r = d.into_region(
            project.organization_id,
            project.id,
            project.date_created + i as i64,
        );
        insert(db, ex, &r).await?;
    }
    Ok(())
}

#[derive(FromRow)]
struct BareProject {
    id: String,
    organization_id: String,
}

#[derive(FromRow)]
struct PolicyRow {
    id: String,
}

/// Migration 10: a Default region for every project that has no Region yet, its banner
/// pointing at the project's `privacy_policy` consent type when there is one.
pub(crate) async fn seed_existing(db: &Db, ex: &mut AnyConnection) -> Result<()> {
    let mut q = Query::select();
    q.columns(["id", "organization_id"].map(a))
        .from(a("projects"))
        .and_where(
            Expr::col(a("id")).not_in_subquery(
                Query::select()
                    .column(a("project_id"))
                    .from(a("regions"))
                    .to_owned(),
            ),
        );
    let projects: Vec<BareProject> = all(db, &mut *ex, &q).await?;
    let now = accord_core::time::now_ms();
    for p in projects {
        let mut policy = Query::select();
        policy
            .column(a("id"))
            .from(a("consent_types"))
            .and_where(Expr::col(a("project_id")).eq(p.id.clone()))
            .and_where(Expr::col(a("label")).eq("privacy_policy"))
            .order_by(a("date_created"), Order::Asc)
            .order_by(a("id"), Order::Asc)
            .limit(1);
        let found: Option<PolicyRow> = one(db, &mut *ex, &policy).await?;
        let mut d = RegionDraft::default_region();
        d.fill_policy(found.map(|r| uid(&r.id)).transpose()?);
        let r = d.into_region(uid(&p.organization_id)?, uid(&p.id)?, now);
        insert(db, ex, &r).await?;
    }
    Ok(())
}

#[async_trait::async_trait]
impl RegionStore for SqlStore {
    async fn list_regions(&self, project: Uuid) -> Result<Vec<Region>> {
        load(self, &[project], None).await
    }

    async fn projects_regions(&self, projects: &[Uuid]) -> Result<Vec<Region>> {
        load(self, projects, None).await
    }

    async fn get_region(&self, project: Uuid, id: Uuid) -> Result<Option<Region>> {
        Ok(load(self, &[project], Some(id)).await?.pop())
    }

    async fn create_region(&self, region: &Region) -> Result<()> {
        let mut tx = self.db.begin_write().await?;
        insert(&self.db, &mut tx, region).await?;
        let done = tx.commit().await.map_err(db_err);
        self.caches.config_written();
        done
    }

    async fn update_region(&self, r: &Region) -> Result<()> {
        let mut tx = self.db.begin_write().await?;
        let mut q = Query::update();
        q.table(a("regions"))
            .values(
                REGION_COLUMNS
                    .iter()
                    .zip(region_values(r)?)
                    .filter(|(c, _)| {
                        !["id", "organization_id", "project_id", "date_created"].contains(*c)
                    })
                    .map(|(c, v)| (a(c), v)),
            )
            .and_where(Expr::col(a("project_id")).eq(r.project_id.to_string()))
            .and_where(Expr::col(a("id")).eq(r.id.to_string()));
        if exec(&self.db, &mut *tx, &q).await? == 0 {
            return Err(StoreError::Missing(Entity::Row));
        }
        write_codes(&self.db, &mut tx, r).await?;
        let done = tx.commit().await.map_err(db_err);
        self.caches.config_written();
        done
    }

    async fn delete_region(&self, project: Uuid, id: Uuid) -> Result<()> {
        let mut tx = self.db.begin_write().await?;
        let mut codes = Query::delete();
        codes
            .from_table(a("region_codes"))
            .and_where(Expr::col(a("project_id")).eq(project.to_string()))
            .and_where(Expr::col(a("region_id")).eq(id.to_string()));
        exec(&self.db, &mut *tx, &codes).await?;
        let mut q = Query::delete();
        q.from_table(a("regions"))
            .and_where(Expr::col(a("project_id")).eq(project.to_string()))
            .and_where(Expr::col(a("id")).eq(id.to_string()));
        exec(&self.db, &mut *tx, &q).await?;
        let done = tx.commit().await.map_err(db_err);
        self.caches.config_written();
        done
    }
}
