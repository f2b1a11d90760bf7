//! The data map (§6) on SQLite and PostgreSQL: one organization's systems, attributes and
//! links are read in four queries; writes replace link sets inside one transaction; the
//! predefined read-only attributes are seeded with each new organization (and, by
//! migration 6, into the organizations that existed before it).
use super::*;
use crate::db::{db_err, is_unique_violation, Db};
use crate::{a, all, exec, uid, SqlStore};
use accord_core::datamap::{
    predefined_values, Attribute, AttributeKind, DataMap, DataSystem, SystemWrite,
};
use accord_core::store::{Entity, Key, StoreError, StoreResult as Result};
use sea_query::{Expr, Query, SimpleExpr};
use sqlx::FromRow;
use uuid::Uuid;

const SYSTEM_COLUMNS: [&str; 12] = [
    "id",
    "organization_id",
    "name",
    "status",
    "cross_border",
    "retention",
    "additional_notes",
    "data_system_type_id",
    "icon",
    "global_data_system_id",
    "date_created",
    "date_updated",
];

const ATTRIBUTE_COLUMNS: [&str; 14] = [
    "id",
    "organization_id",
    "kind",
    "name",
    "status",
    "description",
    "read_only",
    "global_attribute_id",
    "email",
    "phone_number",
    "contact_type_id",
    "pii_type",
    "date_created",
    "date_updated",
];

#[derive(FromRow)]
struct SystemRow {
    id: String,
    organization_id: String,
    name: String,
    status: String,
    cross_border: i64,
    retention: String,
    additional_notes: Option<String>,
    data_system_type_id: Option<String>,
    icon: Option<String>,
    global_data_system_id: Option<String>,
    date_created: i64,
    date_updated: i64,
}

impl SystemRow {
    fn into_model(self) -> Result<DataSystem> {
        Ok(DataSystem {
            id: uid(&self.id)?,
            organization_id: uid(&self.organization_id)?,
            name: self.name,
            status: self.status,
            cross_border: self.cross_border != 0,
            retention: self.retention,
            additional_notes: self.additional_notes,
            data_system_type_id: self
                .data_system_type_id
                .unwrap_or_else(|| accord_core::datamap::DEFAULT_TYPE.into()),
            icon: self.icon,
            global_data_system_id: self.global_data_system_id.as_deref().map(uid).transpose()?,
            date_created: self.date_created,
            date_updated: self.date_updated,
        })
    }
}

#[derive(FromRow)]
struct AttributeRow {
    id: String,
    organization_id: String,
    kind: String,
    name: String,
    status: String,
    description: Option<String>,
    read_only: i64,
    global_attribute_id: Option<String>,
    email: Option<String>,
    phone_number: Option<String>,
    contact_type_id: Option<String>,
    pii_type: Option<String>,
    date_created: i64,
    date_updated: i64,
}

impl AttributeRow {
    fn into_model(self) -> Result<Attribute> {
        Ok(Attribute {
            id: uid(&self.id)?,
            organization_id: uid(&self.organization_id)?,
            kind: AttributeKind::from_path(&self.kind).ok_or_else(|| {
                StoreError::backend(format!("unknown attribute kind {}", self.kind))
            })?,
            name: self.name,
            status: self.status,
            description: self.description,
            read_only: self.read_only != 0,
            global_attribute_id: self.global_attribute_id.as_deref().map(uid).transpose()?,
            email: self.email,
            phone_number: self.phone_number,
            contact_type_id: self.contact_type_id.as_deref().map(uid).transpose()?,
            pii_type: self.pii_type,
            date_created: self.date_created,
            date_updated: self.date_updated,
        })
    }
}

#[derive(FromRow)]
struct PairRow {
    first_id: String,
    second_id: String,
}

fn opt(v: &Option<impl ToString>) -> SimpleExpr {
    v.as_ref().map(|x| x.to_string()).into()
}

fn system_values(s: &DataSystem) -> [SimpleExpr; 12] {
    [
        s.id.to_string().into(),
        s.organization_id.to_string().into(),
        s.name.clone().into(),
        s.status.clone().into(),
        i64::from(s.cross_border).into(),
        s.retention.clone().into(),
        opt(&s.additional_notes),
        s.data_system_type_id.clone().into(),
        opt(&s.icon),
        opt(&s.global_data_system_id),
        s.date_created.into(),
        s.date_updated.into(),
    ]
}

fn attribute_values(x: &Attribute) -> [SimpleExpr; 14] {
    [
        x.id.to_string().into(),
        x.organization_id.to_string().into(),
        x.kind.path().into(),
        x.name.clone().into(),
        x.status.clone().into(),
        opt(&x.description),
        i64::from(x.read_only).into(),
        opt(&x.global_attribute_id),
        opt(&x.email),
        opt(&x.phone_number),
        opt(&x.contact_type_id),
        opt(&x.pii_type),
        x.date_created.into(),
        x.date_updated.into(),
    ]
}

/// Inserts the predefined read-only attributes (§6.3) of each of `orgs`.
pub(crate) async fn seed_predefined(
    db: &Db,
    conn: &mut sqlx::AnyConnection,
    orgs: &[Uuid],
    now: i64,
) -> Result<()> {
    for org in orgs {
        let mut q = Query::insert();
        q.into_table(a("data_system_attributes"))
            .columns(ATTRIBUTE_COLUMNS.map(a));
        for (kind, name, _) in predefined_values() {
            q.values_panic(attribute_values(&Attribute::predefined(
                *org, kind, name, now,
            )));
        }
        exec(db, &mut *conn, &q).await?;
    }
    Ok(())
}

/// Seeds the organizations that existed before the data map (run by migration 6).
pub(crate) async fn seed_existing(db: &Db, conn: &mut sqlx::AnyConnection) -> Result<()> {
    let mut q = Query::select();
    q.column(a("id")).from(a("organizations"));
    let rows: Vec<crate::rows::IdRow> = all(db, &mut *conn, &q).await?;
    let orgs = rows
        .iter()
        .map(|r| uid(&r.id))
        .collect::<Result<Vec<Uuid>>>()?;
    seed_predefined(db, conn, &orgs, accord_core::time::now_ms()).await
}

fn pairs(rows: Vec<PairRow>) -> Result<Vec<(Uuid, Uuid)>> {
    rows.into_iter()
        .map(|r| Ok((uid(&r.first_id)?, uid(&r.second_id)?)))
        .collect()
}

/// The ids of `org`'s attributes of `kind`, as a sub-query.
fn attributes_of_kind(org: Uuid, kind: AttributeKind) -> sea_query::SelectStatement {
    let mut q = Query::select();
    q.column(a("id"))
        .from(a("data_system_attributes"))
        .and_where(Expr::col(a("organization_id")).eq(org.to_string()))
        .and_where(Expr::col(a("kind")).eq(kind.path()));
    q
}

fn insert_links(org: Uuid, pairs: &[(Uuid, Uuid)]) -> Option<sea_query::InsertStatement> {
    if pairs.is_empty() {
        return None;
    }
    let mut ins = Query::insert();
    ins.into_table(a("data_system_attribute_links"))
        .columns(["data_system_id", "attribute_id", "organization_id"].map(a));
    for (s, at) in pairs {
        ins.values_panic([
            s.to_string().into(),
            at.to_string().into(),
            org.to_string().into(),
        ]);
    }
    Some(ins)
}

impl SqlStore {
    pub(crate) async fn load_data_map(&self, org: Uuid) -> Result<DataMap> {
        let db = &self.db;
        let o = org.to_string();
        let mut systems = Query::select();
        systems
            .columns(SYSTEM_COLUMNS.map(a))
            .from(a("data_systems"))
            .and_where(Expr::col(a("organization_id")).eq(o.clone()));
        let mut attributes = Query::select();
        attributes
            .columns(ATTRIBUTE_COLUMNS.map(a))
            .from(a("data_system_attributes"))
            .and_where(Expr::col(a("organization_id")).eq(o.clone()));
        let mut links = Query::select();
        links
            .expr_as(Expr::col(a("data_system_id")), a("first_id"))
            .expr_as(Expr::col(a("attribute_id")), a("second_id"))
            .from(a("data_system_attribute_links"))
            .and_where(Expr::col(a("organization_id")).eq(o.clone()));
        let mut projects = Query::select();
        projects
            .expr_as(
                Expr::col((a("data_system_projects"), a("data_system_id"))),
                a("first_id"),
            )
            .expr_as(
                Expr::col((a("data_system_projects"), a("project_id"))),
                a("second_id"),
            )
            .from(a("data_system_projects"))
            .inner_join(
                a("data_systems"),
                Expr::col((a("data_systems"), a("id")))
                    .equals((a("data_system_projects"), a("data_system_id"))),
            )
            .and_where(Expr::col((a("data_systems"), a("organization_id"))).eq(o));
        let (s, at, l, p) = tokio::try_join!(
            all::<SystemRow, _>(db, &db.read, &systems),
            all::<AttributeRow, _>(db, &db.read, &attributes),
            all::<PairRow, _>(db, &db.read, &links),
            all::<PairRow, _>(db, &db.read, &projects),
        )?;
        Ok(DataMap {
            systems: s
                .into_iter()
                .map(SystemRow::into_model)
                .collect::<Result<_>>()?,
            attributes: at
                .into_iter()
                .map(AttributeRow::into_model)
                .collect::<Result<_>>()?,
            links: pairs(l)?,
            projects: pairs(p)?,
        })
    }

    pub(crate) async fn write_data_system(&self, w: &SystemWrite, create: bool) -> Result<()> {
        let db = &self.db;
        let s = &w.system;
        let id = s.id.to_string();
        let mut tx = db.begin_write().await?;
        // The linked attributes are checked again inside the transaction, share-locked on
        // PostgreSQL (SQLite writers are serialised), before anything else is locked, so that
        // one deleted since the caller's check answers 422 and nothing is written.
        for (kind, ids) in &w.links {
            if ids.is_empty() {
                continue;
            }
            let mut q = Query::select();
            q.column(a("id"))
                .from(a("data_system_attributes"))
                .and_where(Expr::col(a("organization_id")).eq(s.organization_id.to_string()))
                .and_where(Expr::col(a("kind")).eq(kind.path()))
                .and_where(Expr::col(a("id")).is_in(ids.iter().map(Uuid::to_string)));
            if db.backend == crate::Backend::Postgres {
                q.lock_shared();
            }
            let found: Vec<crate::rows::IdRow> = all(db, &mut *tx, &q).await?;
            let found: std::collections::HashSet<&str> =
                found.iter().map(|r| r.id.as_str()).collect();
            if let Some(i) = ids
                .iter()
                .position(|i| !found.contains(i.to_string().as_str()))
            {
                return Err(accord_core::datamap::missing_link(*kind, i).into());
            }
        }
        if create {
            let mut q = Query::insert();
            q.into_table(a("data_systems"))
                .columns(SYSTEM_COLUMNS.map(a))
                .values_panic(system_values(s));
            exec(db, &mut *tx, &q).await?;
        } else {
            let mut q = Query::update();
            q.table(a("data_systems"));
            for (c, v) in SYSTEM_COLUMNS.iter().zip(system_values(s)).skip(2) {
                q.value(a(c), v);
            }
            q.and_where(Expr::col(a("id")).eq(id.clone()))
                .and_where(Expr::col(a("organization_id")).eq(s.organization_id.to_string()));
            if exec(db, &mut *tx, &q).await? == 0 {
                // Deleted since the caller read it.
                return Err(StoreError::Missing(Entity::Row));
            }
        }
        if let Some(projects) = &w.projects {
            let mut del = Query::delete();
            del.from_table(a("data_system_projects"))
                .and_where(Expr::col(a("data_system_id")).eq(id.clone()));
            exec(db, &mut *tx, &del).await?;
            if !projects.is_empty() {
                let mut ins = Query::insert();
                ins.into_table(a("data_system_projects"))
                    .columns(["data_system_id", "project_id"].map(a));
                for p in projects {
                    ins.values_panic([id.clone().into(), p.to_string().into()]);
                }
                exec(db, &mut *tx, &ins).await?;
            }
        }
        let mut new_links = Vec::new();
        for (kind, ids) in &w.links {
            if !create {
                let mut del = Query::delete();
                del.from_table(a("data_system_attribute_links"))
                    .and_where(Expr::col(a("data_system_id")).eq(id.clone()))
                    .and_where(
                        Expr::col(a("attribute_id"))
                            .in_subquery(attributes_of_kind(s.organization_id, *kind)),
                    );
                exec(db, &mut *tx, &del).await?;
            }
            new_links.extend(ids.iter().map(|at| (s.id, *at)));
        }
        new_links.sort();
        new_links.dedup();
        if let Some(ins) = insert_links(s.organization_id, &new_links) {
            exec(db, &mut *tx, &ins).await?;
        }
        tx.commit().await.map_err(db_err)?;
        Ok(())
    }

    pub(crate) async fn remove_data_system(&self, org: Uuid, id: Uuid) -> Result<()> {
        let db = &self.db;
        let mut tx = db.begin_write().await?;
        // The system row first, as a write of the system locks it before its links.
        let mut q = Query::delete();
        q.from_table(a("data_systems"))
            .and_where(Expr::col(a("id")).eq(id.to_string()))
            .and_where(Expr::col(a("organization_id")).eq(org.to_string()));
        exec(db, &mut *tx, &q).await?;
        for table in ["data_system_attribute_links", "data_system_projects"] {
            let mut q = Query::delete();
            q.from_table(a(table))
                .and_where(Expr::col(a("data_system_id")).eq(id.to_string()));
            exec(db, &mut *tx, &q).await?;
        }
        tx.commit().await.map_err(db_err)?;
        Ok(())
    }

    pub(crate) async fn write_attribute(
        &self,
        x: &Attribute,
        systems: Option<&[Uuid]>,
        create: bool,
    ) -> Result<()> {
        let db = &self.db;
        let id = x.id.to_string();
        let mut tx = db.begin_write().await?;
        let (sql, values) = if create {
            let mut q = Query::insert();
            q.into_table(a("data_system_attributes"))
                .columns(ATTRIBUTE_COLUMNS.map(a))
                .values_panic(attribute_values(x));
            db.sql(&q)
        } else {
            let mut q = Query::update();
            q.table(a("data_system_attributes"));
            for (c, v) in ATTRIBUTE_COLUMNS.iter().zip(attribute_values(x)).skip(3) {
                q.value(a(c), v);
            }
            q.and_where(Expr::col(a("id")).eq(id.clone()))
                .and_where(Expr::col(a("organization_id")).eq(x.organization_id.to_string()));
            db.sql(&q)
        };
        if let Err(e) = sqlx::query_with(&sql, values).execute(&mut *tx).await {
            return Err(if is_unique_violation(&e) {
                StoreError::Duplicate(Key::Attribute)
            } else {
                db_err(e)
            });
        }
        if let Some(systems) = systems {
            let mut del = Query::delete();
            del.from_table(a("data_system_attribute_links"))
                .and_where(Expr::col(a("attribute_id")).eq(id.clone()));
            exec(db, &mut *tx, &del).await?;
            if x.kind == AttributeKind::Relationships && !systems.is_empty() {
                // A system has one relationship: linking this one replaces the previous.
                let mut del = Query::delete();
                del.from_table(a("data_system_attribute_links"))
                    .and_where(
                        Expr::col(a("data_system_id")).is_in(systems.iter().map(|s| s.to_string())),
                    )
                    .and_where(Expr::col(a("attribute_id")).in_subquery(attributes_of_kind(
                        x.organization_id,
                        AttributeKind::Relationships,
                    )));
                exec(db, &mut *tx, &del).await?;
            }
            let links: Vec<(Uuid, Uuid)> = systems.iter().map(|s| (*s, x.id)).collect();
            if let Some(ins) = insert_links(x.organization_id, &links) {
                exec(db, &mut *tx, &ins).await?;
            }
        }
        tx.commit().await.map_err(db_err)?;
        Ok(())
    }

    pub(crate) async fn remove_attribute(&self, org: Uuid, id: Uuid) -> Result<()> {
        let db = &self.db;
        let mut tx = db.begin_write().await?;
        // The attribute row first: a data-system write share-locks the attributes it links
        // before anything else, so the two take their locks in the same order.
        let mut q = Query::delete();
        q.from_table(a("data_system_attributes"))
            .and_where(Expr::col(a("id")).eq(id.to_string()))
            .and_where(Expr::col(a("organization_id")).eq(org.to_string()));
        exec(db, &mut *tx, &q).await?;
        let mut links = Query::delete();
        links
            .from_table(a("data_system_attribute_links"))
            .and_where(Expr::col(a("attribute_id")).eq(id.to_string()));
        exec(db, &mut *tx, &links).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(())
    }
}

#[async_trait::async_trait]
impl DataMapStore for SqlStore {
    async fn project_data_systems(
        &self,
        org: Uuid,
        projects: &[Uuid],
    ) -> Result<HashMap<Uuid, Vec<accord_core::admin::ProjectDataSystem>>> {
        if projects.is_empty() {
            return Ok(HashMap::new());
        }
        let (ds, link) = (a("data_systems"), a("data_system_projects"));
        let mut q = Query::select();
        q.column((link.clone(), a("project_id")))
            .columns(["id", "name", "status", "data_system_type_id"].map(|c| (ds.clone(), a(c))))
            .from(ds.clone())
            .inner_join(
                link.clone(),
                Expr::col((link.clone(), a("data_system_id"))).equals((ds.clone(), a("id"))),
            )
            .and_where(Expr::col((ds.clone(), a("organization_id"))).eq(org.to_string()))
            .and_where(
                Expr::col((link, a("project_id"))).is_in(projects.iter().map(|p| p.to_string())),
            );
        let rows: Vec<LinkedDataSystemRow> = all(&self.db, &self.db.read, &q).await?;
        let mut out: HashMap<Uuid, Vec<accord_core::admin::ProjectDataSystem>> = HashMap::new();
        for r in rows {
            out.entry(uid(&r.project_id)?).or_default().push(
                accord_core::admin::ProjectDataSystem {
                    id: uid(&r.id)?,
                    name: r.name,
                    status: r.status,
                    data_system_type_id: r.data_system_type_id,
                },
            );
        }
        for systems in out.values_mut() {
            systems.sort_by(|x, y| x.name.cmp(&y.name).then(x.id.cmp(&y.id)));
        }
        Ok(out)
    }

    async fn set_project_data_systems(&self, project: Uuid, data_systems: &[Uuid]) -> Result<()> {
        let mut tx = self.db.begin_write().await?;
        let mut del = Query::delete();
        del.from_table(a("data_system_projects"))
            .and_where(Expr::col(a("project_id")).eq(project.to_string()));
        exec(&self.db, &mut *tx, &del).await?;
        if !data_systems.is_empty() {
            let mut ins = Query::insert();
            ins.into_table(a("data_system_projects"))
                .columns(["data_system_id", "project_id"].map(a));
            for d in data_systems {
                ins.values_panic([d.to_string().into(), project.to_string().into()]);
            }
            exec(&self.db, &mut *tx, &ins).await?;
        }
        tx.commit().await.map_err(db_err)?;
        Ok(())
    }

    async fn data_map(&self, org: Uuid) -> Result<accord_core::datamap::DataMap> {
        self.load_data_map(org).await
    }

    async fn save_data_system(
        &self,
        write: &accord_core::datamap::SystemWrite,
        create: bool,
    ) -> Result<()> {
        self.write_data_system(write, create).await
    }

    async fn delete_data_system(&self, org: Uuid, id: Uuid) -> Result<()> {
        self.remove_data_system(org, id).await
    }

    async fn save_attribute(
        &self,
        attribute: &accord_core::datamap::Attribute,
        systems: Option<&[Uuid]>,
        create: bool,
    ) -> Result<()> {
        self.write_attribute(attribute, systems, create).await
    }

    async fn delete_attribute(&self, org: Uuid, id: Uuid) -> Result<()> {
        self.remove_attribute(org, id).await
    }
}
