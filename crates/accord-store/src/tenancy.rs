//! Organizations, projects, API keys and their permissions, usage and server settings:
//! the [`TenancyStore`] of SQLite and PostgreSQL.
use super::*;
use crate::cache::ClearOnDrop;
use crate::db::KeptSql;

impl SqlStore {
    pub async fn connect(url: &str) -> Result<SqlStore> {
        Ok(SqlStore {
            db: Db::connect(url).await?,
            caches: cache::Caches::default(),
            creates: creates::CreateQueue::default(),
        })
    }
    pub async fn migrate(&self) -> Result<usize> {
        self.db.migrate().await
    }
    pub(crate) async fn unique_slug(
        &self,
        ex: &mut sqlx::AnyConnection,
        table: &str,
        scope: Option<(&str, Uuid)>,
        base: &str,
    ) -> Result<String> {
        let mut q = Query::select();
        q.column(a("slug"))
            .from(a(table))
            .and_where(Expr::col(a("slug")).like(format!("{base}%")));
        if let Some((col, id)) = scope {
            q.and_where(Expr::col(a(col)).eq(id.to_string()));
        }
        let taken: Vec<SlugRow> = all(&self.db, &mut *ex, &q).await?;
        let taken: Vec<String> = taken.into_iter().map(|r| r.slug).collect();
        if !taken.contains(&base.to_string()) {
            return Ok(base.to_string());
        }
        let mut n = 2;
        loop {
            let candidate = format!("{base}-{n}");
            if !taken.contains(&candidate) {
                return Ok(candidate);
            }
            n += 1;
        }
    }

    pub(crate) async fn insert_project(
        &self,
        ex: &mut sqlx::AnyConnection,
        org: Uuid,
        new: &NewProject,
        now: i64,
    ) -> Result<Project> {
        let slug = self
            .unique_slug(
                ex,
                "projects",
                Some(("organization_id", org)),
                &slugify(&new.name),
            )
            .await?;
        let mut settings = accord_core::store::default_settings();
        if let Some(s) = &new.settings {
            accord_core::admin::deep_merge(&mut settings, s);
        }
        let project = Project {
            id: new_id(),
            organization_id: org,
            name: new.name.clone(),
            slug,
            status: "active".into(),
            contact_emails: new.contact_emails.clone(),
            send_from_email_id: "default".into(),
            settings,
            privacy_policy_url: new.privacy_policy_url.clone(),
            terms_of_service_url: new.terms_of_service_url.clone(),
            date_created: now,
            date_updated: now,
            send_from: None,
        };
        let mut q = Query::insert();
        q.into_table(a("projects"))
            .columns(PROJECT_COLUMNS.iter().map(|c| a(c)))
            .values_panic(project_values(&project));
        exec(&self.db, &mut *ex, &q).await?;
        for d in &new.domains {
            let mut q = Query::insert();
            q.into_table(a("domains"))
                .columns(
                    [
                        "id",
                        "organization_id",
                        "project_id",
                        "domain",
                        "date_created",
                        "date_updated",
                    ]
                    .map(a),
                )
                .values_panic([
                    new_id().to_string().into(),
                    org.to_string().into(),
                    project.id.to_string().into(),
                    d.to_lowercase().into(),
                    now.into(),
                    now.into(),
                ]);
            exec(&self.db, &mut *ex, &q).await?;
        }
        let types = consent::insert_default_consent_types(self, ex, &project).await?;
        let privacy_policy = types
            .iter()
            .find(|t| t.label == "privacy_policy")
            .map(|t| t.id);
        regions::insert_for_project(&self.db, ex, &project, &new.regions, privacy_policy).await?;
        Ok(project)
    }

    pub(crate) async fn load_permissions(
        &self,
        key_ids: &[String],
    ) -> Result<HashMap<String, Vec<Permission>>> {
        if key_ids.is_empty() {
            return Ok(HashMap::new());
        }
        let mut q = Query::select();
        q.columns(["id", "api_key_id", "organization_id", "project_id", "role"].map(a))
            .from(a("api_key_permissions"))
            .and_where(Expr::col(a("api_key_id")).is_in(key_ids.iter().cloned()))
            .order_by(a("id"), Order::Asc);
        let rows: Vec<PermRow> = all(&self.db, &self.db.read, &q).await?;
        let mut out: HashMap<String, Vec<Permission>> = HashMap::new();
        for r in rows {
            let p = Permission {
                id: uid(&r.id)?,
                organization_id: uid(&r.organization_id)?,
                project_id: r.project_id.as_deref().map(uid).transpose()?,
                role: Role::parse(&r.role).unwrap_or(Role::None),
            };
            out.entry(r.api_key_id).or_default().push(p);
        }
        Ok(out)
    }

    pub(crate) async fn keys_from_rows(&self, rows: Vec<KeyRow>) -> Result<Vec<ApiKey>> {
        let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
        let mut perms = self.load_permissions(&ids).await?;
        rows.into_iter()
            .map(|r| {
                Ok(ApiKey {
                    id: uid(&r.id)?,
                    organization_id: uid(&r.organization_id)?,
                    permissions: perms.remove(&r.id).unwrap_or_default(),
                    name: r.name,
                    role: Role::parse(&r.role).unwrap_or(Role::None),
                    prefix: r.prefix,
                    date_created: r.date_created,
                    date_updated: r.date_updated,
                })
            })
            .collect()
    }

    pub(crate) async fn write_permissions(
        &self,
        ex: &mut sqlx::AnyConnection,
        key: Uuid,
        perms: &[(Uuid, Option<Uuid>, Role)],
    ) -> Result<()> {
        let mut del = Query::delete();
        del.from_table(a("api_key_permissions"))
            .and_where(Expr::col(a("api_key_id")).eq(key.to_string()));
        exec(&self.db, &mut *ex, &del).await?;
        for (org, project, role) in perms {
            let mut q = Query::insert();
            q.into_table(a("api_key_permissions"))
                .columns(["id", "api_key_id", "organization_id", "project_id", "role"].map(a))
                .values_panic([
                    new_id().to_string().into(),
                    key.to_string().into(),
                    org.to_string().into(),
                    project.map(|p| p.to_string()).into(),
                    role.as_str().into(),
                ]);
            exec(&self.db, &mut *ex, &q).await?;
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl TenancyStore for SqlStore {
    async fn ping(&self) -> Result<()> {
        sqlx::query_scalar::<_, i64>("SELECT 1")
            .fetch_one(&self.db.read)
            .await
            .map_err(|_| StoreError::Unavailable("database unavailable".into()))?;
        Ok(())
    }

    async fn principal_by_digest(&self, digest: &str) -> Result<Option<Principal>> {
        // One round trip: the key and its permission entries.
        static KEPT: KeptSql = KeptSql::new();
        let sql = self
            .db
            .kept(&KEPT, vec![digest.into()], || principal_query(digest));
        let rows = read_all_sql(&self.db, sql, KeyDigestRow::from_lite).await?;
        let Some(first) = rows.first() else {
            return Ok(None);
        };
        if !accord_core::auth::digests_equal(&first.digest, digest) {
            return Ok(None);
        }
        let mut permissions = Vec::new();
        for r in &rows {
            if let (Some(id), Some(org), Some(role)) = (
                &r.permission_id,
                &r.permission_organization_id,
                &r.permission_role,
            ) {
                permissions.push(Permission {
                    id: uid(id)?,
                    organization_id: uid(org)?,
                    project_id: r.permission_project_id.as_deref().map(uid).transpose()?,
                    role: Role::parse(role).unwrap_or(Role::None),
                });
            }
        }
        Ok(Some(Principal {
            key_id: uid(&first.id)?,
            home_organization_id: uid(&first.organization_id)?,
            role: Role::parse(&first.role).unwrap_or(Role::None),
            permissions,
        }))
    }

    async fn principal_for_read(&self, digest: &str) -> Result<Option<Principal>> {
        // Keys that exist only: digests anyone may send never fill the map.
        let read = || self.principal_by_digest(digest);
        let principals = &self.caches.principals;
        principals
            .get_or_read(digest.to_string(), Option::is_some, read)
            .await
    }

    async fn organization_count(&self) -> Result<i64> {
        let mut q = Query::select();
        q.expr(Expr::col(a("id")).count()).from(a("organizations"));
        read_count(&self.db, &q).await
    }

    async fn get_organization(&self, id: Uuid) -> Result<Option<Organization>> {
        let mut q = Query::select();
        q.columns(ORG_COLUMNS.map(a))
            .from(a("organizations"))
            .and_where(Expr::col(a("id")).eq(id.to_string()));
        let row: Option<OrgRow> = one(&self.db, &self.db.read, &q).await?;
        row.map(OrgRow::into_model).transpose()
    }

    async fn list_organizations(&self, ids: &[Uuid]) -> Result<Vec<Organization>> {
        let mut q = Query::select();
        q.columns(ORG_COLUMNS.map(a))
            .from(a("organizations"))
            .and_where(Expr::col(a("id")).is_in(ids.iter().map(|i| i.to_string())))
            .order_by(a("date_created"), Order::Desc);
        let rows: Vec<OrgRow> = all(&self.db, &self.db.read, &q).await?;
        rows.into_iter().map(OrgRow::into_model).collect()
    }

    async fn create_organization(&self, new: NewOrganization) -> Result<(Organization, Project)> {
        let now = now_ms();
        let mut tx = self.db.begin_write().await?;
        let slug = match &new.slug {
            Some(s) => s.clone(),
            None => {
                self.unique_slug(&mut tx, "organizations", None, &slugify(&new.name))
                    .await?
            }
        };
        let org_id = new_id();
        let mut q = Query::insert();
        q.into_table(a("organizations"))
            .columns(ORG_COLUMNS.map(a))
            .values_panic([
                org_id.to_string().into(),
                new.name.clone().into(),
                slug.clone().into(),
                new.primary_domain.clone().into(),
                Option::<String>::None.into(),
                now.into(),
                now.into(),
            ]);
        let (sql, values) = self.db.sql(&q);
        if let Err(e) = sqlx::query_with(&sql, values).execute(&mut *tx).await {
            return Err(if is_unique_violation(&e) {
                StoreError::Duplicate(Key::OrganizationSlug)
            } else {
                db_err(e)
            });
        }
        let project = self
            .insert_project(&mut tx, org_id, &new.project, now)
            .await?;
        let mut up = Query::update();
        up.table(a("organizations"))
            .value(a("default_project_id"), project.id.to_string())
            .and_where(Expr::col(a("id")).eq(org_id.to_string()));
        exec(&self.db, &mut *tx, &up).await?;
        datamap::seed_predefined(&self.db, &mut tx, &[org_id], now).await?;
        tx.commit().await.map_err(db_err)?;
        let org = Organization {
            id: org_id,
            name: new.name,
            slug,
            primary_domain: new.primary_domain,
            default_project_id: Some(project.id),
            date_created: now,
            date_updated: now,
        };
        Ok((org, project))
    }

    async fn get_project(&self, org: Uuid, id: Uuid) -> Result<Option<Project>> {
        static KEPT: KeptSql = KeptSql::new();
        let (id, org) = (id.to_string(), org.to_string());
        let sql = self
            .db
            .kept(&KEPT, vec![id.clone().into(), org.clone().into()], || {
                let mut q = Query::select();
                q.columns(PROJECT_COLUMNS.map(a))
                    .from(a("projects"))
                    .and_where(Expr::col(a("id")).eq(id.clone()))
                    .and_where(Expr::col(a("organization_id")).eq(org.clone()));
                q
            });
        let row = read_all_sql(&self.db, sql, ProjectRow::from_lite)
            .await?
            .into_iter()
            .next();
        let mut projects: Vec<Project> = row
            .map(ProjectRow::into_model)
            .transpose()?
            .into_iter()
            .collect();
        lifecycle::attach_senders(self, &mut projects).await?;
        Ok(projects.pop())
    }

    async fn project_for_read(&self, org: Uuid, id: Uuid) -> Result<Option<Project>> {
        // Projects that exist only: ids anyone may send never fill the map.
        let read = || self.get_project(org, id);
        let projects = &self.caches.api_projects;
        projects.get_or_read((org, id), Option::is_some, read).await
    }

    async fn list_projects(&self, org: Uuid) -> Result<Vec<Project>> {
        let mut q = Query::select();
        q.columns(PROJECT_COLUMNS.map(a))
            .from(a("projects"))
            .and_where(Expr::col(a("organization_id")).eq(org.to_string()))
            .order_by(a("date_created"), Order::Desc)
            .order_by(a("id"), Order::Desc);
        let rows: Vec<ProjectRow> = all(&self.db, &self.db.read, &q).await?;
        let mut projects = rows
            .into_iter()
            .map(ProjectRow::into_model)
            .collect::<Result<Vec<_>>>()?;
        lifecycle::attach_senders(self, &mut projects).await?;
        Ok(projects)
    }

    async fn create_project(&self, org: Uuid, new: NewProject) -> Result<Project> {
        let mut tx = self.db.begin_write().await?;
        let p = self.insert_project(&mut tx, org, &new, now_ms()).await?;
        tx.commit().await.map_err(db_err)?;
        self.caches.clear_all();
        Ok(p)
    }

    async fn update_project(&self, p: &Project) -> Result<()> {
        let mut q = Query::update();
        q.table(a("projects"))
            .values(
                PROJECT_COLUMNS
                    .iter()
                    .map(|c| a(c))
                    .zip(project_values(p))
                    .skip(2),
            )
            .and_where(Expr::col(a("id")).eq(p.id.to_string()));
        let _clear = ClearOnDrop(|| self.caches.clear_projects());
        exec(&self.db, &self.db.write, &q).await.map(|_| ())
    }

    async fn create_api_key(&self, new: NewApiKey) -> Result<ApiKey> {
        let now = now_ms();
        let id = new_id();
        let mut tx = self.db.begin_write().await?;
        let mut q = Query::insert();
        q.into_table(a("api_keys"))
            .columns(KEY_COLUMNS.map(a).into_iter().chain([a("digest")]))
            .values_panic([
                id.to_string().into(),
                new.organization_id.to_string().into(),
                new.name.clone().into(),
                new.role.as_str().into(),
                new.prefix.clone().into(),
                now.into(),
                now.into(),
                new.digest.clone().into(),
            ]);
        exec(&self.db, &mut *tx, &q).await?;
        self.write_permissions(&mut tx, id, &new.permissions)
            .await?;
        tx.commit().await.map_err(db_err)?;
        Ok(self
            .get_api_key(new.organization_id, id)
            .await?
            .expect("just created"))
    }

    async fn get_api_key(&self, org: Uuid, id: Uuid) -> Result<Option<ApiKey>> {
        let mut q = Query::select();
        q.columns(KEY_COLUMNS.map(a))
            .from(a("api_keys"))
            .and_where(Expr::col(a("id")).eq(id.to_string()))
            .and_where(Expr::col(a("organization_id")).eq(org.to_string()));
        let rows: Vec<KeyRow> = all(&self.db, &self.db.write, &q).await?;
        Ok(self.keys_from_rows(rows).await?.into_iter().next())
    }

    async fn list_api_keys(&self, org: Uuid) -> Result<Vec<ApiKey>> {
        let mut q = Query::select();
        q.columns(KEY_COLUMNS.map(a))
            .from(a("api_keys"))
            .and_where(Expr::col(a("organization_id")).eq(org.to_string()))
            .order_by(a("date_created"), Order::Desc)
            .order_by(a("id"), Order::Desc);
        let rows: Vec<KeyRow> = all(&self.db, &self.db.read, &q).await?;
        self.keys_from_rows(rows).await
    }

    async fn delete_api_key(&self, org: Uuid, id: Uuid) -> Result<()> {
        let mut q = Query::delete();
        q.from_table(a("api_keys"))
            .and_where(Expr::col(a("id")).eq(id.to_string()))
            .and_where(Expr::col(a("organization_id")).eq(org.to_string()));
        let _clear = ClearOnDrop(|| self.caches.principals.clear());
        exec(&self.db, &self.db.write, &q).await.map(|_| ())
    }

    async fn update_api_key(&self, key: &ApiKey) -> Result<()> {
        let mut tx = self.db.begin_write().await?;
        let mut q = Query::update();
        q.table(a("api_keys"))
            .values([
                (a("name"), key.name.clone().into()),
                (a("role"), key.role.as_str().into()),
                (a("date_updated"), now_ms().into()),
            ])
            .and_where(Expr::col(a("id")).eq(key.id.to_string()));
        exec(&self.db, &mut *tx, &q).await?;
        let perms: Vec<_> = key
            .permissions
            .iter()
            .map(|p| (p.organization_id, p.project_id, p.role))
            .collect();
        self.write_permissions(&mut tx, key.id, &perms).await?;
        let _clear = ClearOnDrop(|| self.caches.principals.clear());
        tx.commit().await.map_err(db_err)
    }

    async fn owner_key_count(&self, org: Uuid) -> Result<i64> {
        let mut q = Query::select();
        q.expr(Expr::col(a("id")).count())
            .from(a("api_keys"))
            .and_where(Expr::col(a("organization_id")).eq(org.to_string()))
            .and_where(Expr::col(a("role")).eq("owner"));
        read_count(&self.db, &q).await
    }

    async fn update_organization(&self, org: &Organization) -> Result<()> {
        let mut q = Query::update();
        q.table(a("organizations"))
            .values([
                (a("name"), org.name.clone().into()),
                (a("slug"), org.slug.clone().into()),
                (a("primary_domain"), org.primary_domain.clone().into()),
                (
                    a("default_project_id"),
                    org.default_project_id.map(|p| p.to_string()).into(),
                ),
                (a("date_updated"), org.date_updated.into()),
            ])
            .and_where(Expr::col(a("id")).eq(org.id.to_string()));
        exec(&self.db, &self.db.write, &q).await?;
        Ok(())
    }

    async fn delete_organization(&self, id: Uuid) -> Result<Vec<String>> {
        let org = id.to_string();
        let in_org = || Expr::col(a("organization_id")).eq(org.clone());
        let ids_of = |table: &str| {
            let mut q = Query::select();
            q.column(a("id")).from(a(table)).and_where(in_org());
            q
        };
        let mut tx = self.db.begin_write().await?;
        let mut files = Query::select();
        files
            .column(a("files"))
            .from(a("compliance_requests"))
            .and_where(in_org());
        let rows: Vec<FilesRow> = all(&self.db, &mut *tx, &files).await?;
        let mut keys = Vec::new();
        for r in rows {
            let stored: Vec<compliance::StoredFile> =
                serde_json::from_str(&r.files).map_err(StoreError::backend)?;
            keys.extend(stored.into_iter().map(|f| f.key));
        }
        let mut deletes = Vec::new();
        for table in [
            "outgoing_messages",
            "compliance_request_events",
            "compliance_requests",
            "identities",
            "send_from_emails",
            "policies",
            "consent_reads",
            "tracker_scans",
            "tracker_scan_schedules",
            "trackers",
        ] {
            let mut q = Query::delete();
            q.from_table(a(table)).and_where(in_org());
            deletes.push(q);
        }
        let mut links = Query::delete();
        links.from_table(a("data_system_projects")).cond_where(
            Cond::any()
                .add(Expr::col(a("data_system_id")).in_subquery(ids_of("data_systems")))
                .add(Expr::col(a("project_id")).in_subquery(ids_of("projects"))),
        );
        deletes.push(links);
        let mut permissions = Query::delete();
        permissions.from_table(a("api_key_permissions")).cond_where(
            Cond::any()
                .add(in_org())
                .add(Expr::col(a("api_key_id")).in_subquery(ids_of("api_keys"))),
        );
        deletes.push(permissions);
        for table in [
            "data_systems",
            "domains",
            "region_codes",
            "regions",
            "api_keys",
            "projects",
        ] {
            let mut q = Query::delete();
            q.from_table(a(table)).and_where(in_org());
            deletes.push(q);
        }
        for q in &deletes {
            exec(&self.db, &mut *tx, q).await?;
        }
        deletes.clear();
        users::delete_for_organization(&self.db, &mut tx, &org).await?;
        let mut organization = Query::delete();
        organization
            .from_table(a("organizations"))
            .and_where(Expr::col(a("id")).eq(org.clone()));
        deletes.push(organization);
        for q in &deletes {
            exec(&self.db, &mut *tx, q).await?;
        }
        tx.commit().await.map_err(db_err)?;
        self.caches.clear_all();
        Ok(keys)
    }

    async fn add_api_key_permission(
        &self,
        key: Uuid,
        org: Uuid,
        project: Option<Uuid>,
        role: Role,
    ) -> Result<Permission> {
        let permission = Permission {
            id: new_id(),
            organization_id: org,
            project_id: project,
            role,
        };
        let mut q = Query::insert();
        q.into_table(a("api_key_permissions"))
            .columns(["id", "api_key_id", "organization_id", "project_id", "role"].map(a))
            .values_panic([
                permission.id.to_string().into(),
                key.to_string().into(),
                org.to_string().into(),
                project.map(|p| p.to_string()).into(),
                role.as_str().into(),
            ]);
        let _clear = ClearOnDrop(|| self.caches.principals.clear());
        exec(&self.db, &self.db.write, &q).await.map(|_| permission)
    }

    async fn organization_owner_keys(&self, org: Uuid) -> Result<Vec<Uuid>> {
        let mut home = Query::select();
        home.column(a("id"))
            .from(a("api_keys"))
            .and_where(Expr::col(a("organization_id")).eq(org.to_string()))
            .and_where(Expr::col(a("role")).eq(Role::Owner.as_str()));
        let mut granted = Query::select();
        granted
            .expr_as(Expr::col(a("api_key_id")), a("id"))
            .from(a("api_key_permissions"))
            .and_where(Expr::col(a("organization_id")).eq(org.to_string()))
            .and_where(Expr::col(a("project_id")).is_null())
            .and_where(Expr::col(a("role")).eq(Role::Owner.as_str()));
        let mut rows: Vec<IdRow> = all(&self.db, &self.db.write, &home).await?;
        rows.extend(all::<IdRow, _>(&self.db, &self.db.write, &granted).await?);
        let mut ids = rows
            .iter()
            .map(|r| uid(&r.id))
            .collect::<Result<Vec<_>>>()?;
        ids.sort();
        ids.dedup();
        Ok(ids)
    }

    async fn set_identify_secret(&self, project: Uuid, secret: &str) -> Result<()> {
        let mut q = Query::update();
        q.table(a("projects"))
            .value(a("identify_secret"), secret)
            .and_where(Expr::col(a("id")).eq(project.to_string()));
        let _clear = ClearOnDrop(|| self.caches.clear_projects());
        exec(&self.db, &self.db.write, &q).await.map(|_| ())
    }

    fn pool_stats(&self) -> Vec<accord_core::store::PoolStats> {
        self.db.pool_stats()
    }

    async fn server_setting_init(&self, key: &str, candidate: &str) -> Result<String> {
        site::setting_init(self, key, candidate).await
    }

    async fn organization_usage(
        &self,
        org: Uuid,
        month_start: i64,
    ) -> Result<accord_core::store::Usage> {
        let tally = |table: &str, since: Option<i64>| {
            let mut q = Query::select();
            q.expr(Expr::cust("COUNT(*)"))
                .from(a(table))
                .and_where(Expr::col(a("organization_id")).eq(org.to_string()));
            if let Some(t) = since {
                q.and_where(Expr::col(a("date_created")).gte(t));
            }
            q
        };
        Ok(accord_core::store::Usage {
            data_systems: read_count(&self.db, &tally("data_systems", None)).await?,
            domains: read_count(&self.db, &tally("domains", None)).await?,
            compliance_requests_this_month: read_count(
                &self.db,
                &tally("compliance_requests", Some(month_start)),
            )
            .await?,
            sessions_this_month: read_count(&self.db, &tally("sessions", Some(month_start)))
                .await?,
        })
    }
}

/// An API key by its digest, with its permission entries.
fn principal_query(digest: &str) -> sea_query::SelectStatement {
    let (k, p) = (a("api_keys"), a("api_key_permissions"));
    let mut q = Query::select();
    q.columns(["id", "organization_id", "role", "digest"].map(|c| (k.clone(), a(c))))
        .expr_as(Expr::col((p.clone(), a("id"))), a("permission_id"))
        .expr_as(
            Expr::col((p.clone(), a("organization_id"))),
            a("permission_organization_id"),
        )
        .expr_as(
            Expr::col((p.clone(), a("project_id"))),
            a("permission_project_id"),
        )
        .expr_as(Expr::col((p.clone(), a("role"))), a("permission_role"))
        .from(k.clone())
        .left_join(
            p.clone(),
            Expr::col((p.clone(), a("api_key_id"))).equals((k.clone(), a("id"))),
        )
        .and_where(Expr::col((k.clone(), a("digest"))).eq(digest));
    q
}
