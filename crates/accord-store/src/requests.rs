//! Compliance requests, their events and tasks, site-created requests, verification and the
//! file purge: the [`ComplianceStore`] of SQLite and PostgreSQL.
use super::*;
use crate::creates::{ActiveSystems, CreateCall};
use crate::identities::{insert_identity, IdentityKeys};
use crate::paging::page_of;
use sea_query::SelectStatement;

/// Milliseconds of a day: the bucket of `compliance_request_due_counts`.
const DAY_MS: i64 = 86_400_000;

/// SQLite: the trigram index entries of the requests whose `seq` is above the bound value
/// (see [`SqlStore::index_new_requests`]).
const INDEX_NEW_REQUESTS: &str = "INSERT INTO compliance_requests_search \
     (rowid, search_text, user_email_lower, notes, request_details, resolution, session_user_agent) \
     SELECT seq, search_text, user_email_lower, notes, request_details, resolution, session_user_agent \
     FROM compliance_requests WHERE seq > ?";

impl SqlStore {
    /// Finds or creates the identity of a Privacy API submission (§3.5): compliance
    /// requests and consent events alike.
    pub(crate) async fn resolve_identity(
        &self,
        ex: &mut Tx<'_>,
        project: &Project,
        input: &accord_core::consent::Identifiers,
        now: i64,
    ) -> Result<Uuid> {
        self.resolve_identity_in(ex, project, input, now, true)
            .await?
            .ok_or_else(|| StoreError::backend("identity could not be resolved"))
    }

    /// [`SqlStore::resolve_identity`]; with `write` false it only reads, and answers
    /// `None` when resolving would create an identity or add identifiers to one.
    pub(crate) async fn resolve_identity_in(
        &self,
        ex: &mut Tx<'_>,
        project: &Project,
        input: &accord_core::consent::Identifiers,
        now: i64,
        write: bool,
    ) -> Result<Option<Uuid>> {
        let pid = project.id.to_string();
        let clean = |v: &Option<String>| {
            v.as_ref()
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
        };
        let email = clean(&input.email).map(|e| e.to_lowercase());
        let phone = clean(&input.phone_number)
            .map(|p| compliance::normalize_phone(&p))
            .filter(|p| !p.is_empty());
        let user_id = clean(&input.user_id);
        let project_user_id = clean(&input.project_user_id);
        let keys: [(&str, Option<String>); 4] = [
            ("email_lower", email.clone()),
            ("phone_normalized", phone.clone()),
            ("user_id", user_id.clone()),
            ("project_user_id", project_user_id.clone()),
        ];

        let find = |col: &'static str, val: String| {
            let mut q = Query::select();
            q.columns(["id", "merged_into"].map(a))
                .from(a("identities"))
                .and_where(Expr::col(a("project_id")).eq(pid.clone()))
                .and_where(Expr::col(a(col)).eq(val));
            q
        };
        // A concurrent request may create the same identity between our look-up and our
        // insert; the insert then does nothing and the look-up runs again.
        let mut attempts = 0;
        let mut row = loop {
            let mut chosen: Option<IdentityRow> = None;
            if let Some(cid) = clean(&input.concord_id) {
                chosen = ex.one(&self.db, &find("id", cid.to_lowercase())).await?;
                if chosen.is_none() {
                    return Err(StoreError::Missing(Entity::Identity));
                }
            } else {
                for (col, val) in &keys {
                    if let Some(v) = val {
                        chosen = ex.one(&self.db, &find(col, v.clone())).await?;
                        if chosen.is_some() {
                            break;
                        }
                    }
                }
            }
            if let Some(found) = chosen {
                break found;
            }
            if !write {
                return Ok(None);
            }
            let keys = IdentityKeys {
                email: clean(&input.email),
                phone_number: clean(&input.phone_number),
                user_id: user_id.clone(),
                project_user_id: project_user_id.clone(),
            };
            if let Some(id) = insert_identity(self, ex, project, &keys).await? {
                return Ok(Some(id));
            }
            attempts += 1;
            if attempts > 3 {
                return Err(StoreError::backend("identity could not be resolved"));
            }
        };
        for _ in 0..16 {
            let Some(next) = row.merged_into.clone() else {
                break;
            };
            row = ex
                .one(&self.db, &find("id", next))
                .await?
                .ok_or_else(|| StoreError::backend("dangling merge"))?;
        }
        // Add identifiers the identity lacks, unless another identity holds them.
        let mut current = Query::select();
        current
            .columns(
                [
                    "id",
                    "email_lower",
                    "phone_normalized",
                    "user_id",
                    "project_user_id",
                ]
                .map(a),
            )
            .from(a("identities"))
            .and_where(Expr::col(a("id")).eq(row.id.clone()));
        let held: IdentifierRow = ex
            .one(&self.db, &current)
            .await?
            .ok_or_else(|| StoreError::backend("identity vanished"))?;
        let present = [
            held.email_lower.is_some(),
            held.phone_normalized.is_some(),
            held.user_id.is_some(),
            held.project_user_id.is_some(),
        ];
        let mut update = Query::update();
        update
            .table(a("identities"))
            .and_where(Expr::col(a("id")).eq(row.id.clone()));
        let mut changed = false;
        for ((col, val), has) in keys.iter().zip(present) {
            let Some(v) = val else { continue };
            if has {
                continue;
            }
            let other: Option<IdentityRow> = ex.one(&self.db, &find(col, v.clone())).await?;
            if other.is_some() {
                continue;
            }
            changed = true;
            match *col {
                "email_lower" => {
                    update.values([
                        (a("email"), clean(&input.email).into()),
                        (a("email_lower"), v.clone().into()),
                        (a("email_sha256"), accord_core::auth::digest(v).into()),
                    ]);
                }
                "phone_normalized" => {
                    update.values([
                        (a("phone_number"), clean(&input.phone_number).into()),
                        (a("phone_normalized"), v.clone().into()),
                    ]);
                }
                c => {
                    update.value(a(c), v.clone());
                }
            }
        }
        if changed {
            if !write {
                return Ok(None);
            }
            update.value(a("date_updated"), now);
            ex.exec(&self.db, &update).await?;
        }
        uid(&row.id).map(Some)
    }

    /// Resolves the identities, lets `plan` build the requests, and writes them with their
    /// events, challenges and messages in one transaction, or none (§3.3).
    pub(crate) async fn create_requests(&self, call: CreateCall) -> Result<Vec<ComplianceRequest>> {
        let mut tx = self.db.begin_write().await?;
        let mut ex = Tx::Sqlx(&mut tx);
        let after = self.last_request_seq(&mut ex).await?;
        let created = self
            .create_requests_in(&mut ex, &call, &mut ActiveSystems::default())
            .await?;
        self.index_new_requests(&mut ex, after).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(created)
    }

    /// On SQLite, the highest `seq` of the stored requests, read in a write transaction
    /// before its creates: SQLite numbers a new row one past the highest, so the requests
    /// the transaction writes are those with a higher `seq`. 0 on PostgreSQL (unused).
    pub(crate) async fn last_request_seq(&self, ex: &mut Tx<'_>) -> Result<i64> {
        if self.db.backend != Backend::Sqlite {
            return Ok(0);
        }
        ex.integer("SELECT COALESCE(MAX(seq), 0) FROM compliance_requests")
            .await
    }

    /// On SQLite, writes the trigram index entries of the requests stored after `after`
    /// (see [`SqlStore::last_request_seq`]), in one statement at the end of the transaction
    /// that wrote them. FTS5 writes its pending entries as a segment at every statement
    /// savepoint, and an insert into `compliance_requests` opens one: indexed by a trigger
    /// (as updates and deletes still are), each create of a group commit wrote a segment of
    /// its own for FTS5 to merge (migration 23). PostgreSQL's trigram indexes are indexes
    /// of the table itself: nothing to do.
    pub(crate) async fn index_new_requests(&self, ex: &mut Tx<'_>, after: i64) -> Result<()> {
        if self.db.backend != Backend::Sqlite {
            return Ok(());
        }
        ex.run(INDEX_NEW_REQUESTS, &[after]).await.map(|_| ())
    }

    /// The writes of [`SqlStore::create_requests`] inside the caller's transaction.
    /// `systems` keeps each project's active data systems as read in that transaction, so
    /// the creates of one transaction read them once.
    pub(crate) async fn create_requests_in(
        &self,
        tx: &mut Tx<'_>,
        call: &CreateCall,
        systems: &mut ActiveSystems,
    ) -> Result<Vec<ComplianceRequest>> {
        let CreateCall {
            project,
            identities,
            actor,
            now,
            plan,
        } = call;
        let (actor, now) = (*actor, *now);
        let mut concord_ids = Vec::with_capacity(identities.len());
        for identifiers in identities {
            concord_ids.push(self.resolve_identity(tx, project, identifiers, now).await?);
        }
        let data_systems = match systems.get(&project.id) {
            Some(ids) => ids.clone(),
            None => {
                let ids = self.active_data_systems(tx, project.id).await?;
                systems.insert(project.id, ids.clone());
                ids
            }
        };
        let facts = CreateFacts {
            concord_ids,
            data_systems,
        };
        // A panic while planning (a bug) fails this create alone, as an error: on SQLite the
        // creates committed with it are not lost to it.
        let planned = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| plan(facts)))
            .map_err(|_| StoreError::backend("planning the new requests failed"))??;
        let insert = |rows: &[Vec<sea_query::Value>]| {
            let mut q = Query::insert();
            q.into_table(a("compliance_requests"))
                .columns(CR_COLUMNS.map(a));
            for r in rows {
                q.values_panic(r.iter().cloned().map(SimpleExpr::from));
            }
            q
        };
        let values = planned
            .iter()
            .map(|n| cr_values(&n.request))
            .collect::<Result<Vec<_>>>()?;
        let mut writes = Vec::with_capacity(planned.len() * 3 + 1);
        if let [one] = values.as_slice() {
            // One request, the usual create: its row by a statement of kept text.
            static KEPT: crate::db::KeptSql = crate::db::KeptSql::new();
            let sql = self.db.kept(&KEPT, one.clone(), || insert(&values));
            tx.exec_sql(sql).await?;
        } else if !values.is_empty() {
            writes.push(insert(&values));
        }
        for n in &planned {
            writes.extend(Self::events_insert(&n.request, actor, &n.events, now));
            writes.extend(n.challenge.as_ref().map(lifecycle::challenge_insert));
            writes.extend(n.messages.iter().map(lifecycle::message_insert));
        }
        tx.exec_all(&self.db, &writes).await?;
        Ok(planned.into_iter().map(|n| n.request).collect())
    }

    /// The active data systems of `project` (by id), read inside the caller's transaction.
    pub(crate) async fn active_data_systems(
        &self,
        ex: &mut Tx<'_>,
        project: Uuid,
    ) -> Result<Vec<Uuid>> {
        let mut q = Query::select();
        q.column((a("data_systems"), a("id")))
            .from(a("data_systems"))
            .inner_join(
                a("data_system_projects"),
                Expr::col((a("data_system_projects"), a("data_system_id")))
                    .equals((a("data_systems"), a("id"))),
            )
            .and_where(
                Expr::col((a("data_system_projects"), a("project_id"))).eq(project.to_string()),
            )
            .and_where(Expr::col((a("data_systems"), a("status"))).eq("active"))
            .order_by((a("data_systems"), a("id")), Order::Asc);
        let rows: Vec<IdRow> = ex.all(&self.db, &q).await?;
        rows.iter().map(|r| uid(&r.id)).collect()
    }

    /// Writes every column of a stored request back to its row.
    pub(crate) async fn write_request(
        &self,
        ex: &mut sqlx::AnyConnection,
        cr: &ComplianceRequest,
    ) -> Result<()> {
        let mut up = Query::update();
        up.table(a("compliance_requests"))
            .values(
                CR_COLUMNS
                    .iter()
                    .map(|c| a(c))
                    .zip(cr_values(cr)?.into_iter().map(SimpleExpr::from))
                    .skip(1),
            )
            .and_where(Expr::col(a("id")).eq(cr.id.to_string()));
        exec(&self.db, &mut *ex, &up).await?;
        Ok(())
    }

    pub(crate) async fn insert_events(
        &self,
        ex: &mut sqlx::AnyConnection,
        cr: &ComplianceRequest,
        actor: Actor,
        events: &[NewEvent],
        now: i64,
    ) -> Result<()> {
        if let Some(q) = Self::events_insert(cr, actor, events, now) {
            exec(&self.db, &mut *ex, &q).await?;
        }
        Ok(())
    }

    /// The insert of `events` of `cr` (none when there are none).
    fn events_insert(
        cr: &ComplianceRequest,
        actor: Actor,
        events: &[NewEvent],
        now: i64,
    ) -> Option<sea_query::InsertStatement> {
        if events.is_empty() {
            return None;
        }
        let mut q = Query::insert();
        q.into_table(a("compliance_request_events"))
            .columns(EVENT_COLUMNS.map(a));
        for e in events {
            q.values_panic([
                new_id().to_string().into(),
                cr.id.to_string().into(),
                cr.organization_id.to_string().into(),
                cr.project_id.to_string().into(),
                e.event.into(),
                actor.account_id.map(|x| x.to_string()).into(),
                e.details.to_string().into(),
                now.into(),
            ]);
        }
        Some(q)
    }

    /// The conditions of `f`; `rarest` holds the rarest trigram of substring filters by
    /// column ([`SqlStore::rarest_trigrams`]).
    pub(crate) fn request_conditions(&self, f: &RequestFilter, rarest: &[(&str, String)]) -> Cond {
        // The caller passes only projects of `f.organization_id`, so the project alone scopes
        // the query.
        let searched = [
            &f.user_email,
            &f.user_agent,
            &f.notes,
            &f.request_details,
            &f.resolution,
            &f.text,
        ]
        .iter()
        .any(|v| v.as_deref().is_some_and(|v| !v.contains(['%', '_', '\\'])));
        let narrowed = narrowed(f);
        let searched = searched && !narrowed;
        let mut c = Cond::all().add(if searched && self.db.backend == Backend::Sqlite {
            // A substring filter is answered from the trigram table (unless it holds a
            // LIKE wildcard, see `request_substring`), whose matches the
            // count must read anyway: start from them rather than from every request of the
            // project (`+` keeps SQLite's planner off the project indexes).
            in_projects_unindexed(&f.project_ids)
        } else {
            in_projects(&f.project_ids)
        });
        if let Some(v) = f.start_date {
            c = c.add(Expr::col(a("request_date")).gte(v));
        }
        if let Some(v) = f.end_date {
            c = c.add(Expr::col(a("request_date")).lt(v));
        }
        if let Some(v) = f.id {
            c = c.add(Expr::col(a("id")).eq(v.to_string()));
        }
        if let Some(v) = &f.concord_id {
            c = c.add(Expr::col(a("concord_id")).eq(v.to_lowercase()));
        }
        if let Some(v) = &f.session_id {
            c = c.add(Expr::col(a("session_id")).eq(v.clone()));
        }
        if !f.request.is_empty() {
            c = c.add(Expr::col(a("request")).is_in(f.request.clone()));
        }
        if !f.status.is_empty() {
            c = c.add(Expr::col(a("status")).is_in(f.status.clone()));
        }
        if let Some(v) = &f.resolution_status {
            c = c.add(Expr::col(a("resolution_status")).eq(v.clone()));
        }
        if let Some(v) = &f.domain {
            c = c.add(Expr::col(a("domain_lower")).eq(v.to_lowercase()));
        }
        if let Some(v) = &f.geography {
            c = c.add(lower("session_geography").eq(v.to_lowercase()));
        }
        if let Some(v) = &f.ip_address {
            c = c.add(lower("session_ip_address").eq(v.to_lowercase()));
        }
        // On PostgreSQL only a bounded range counts as narrow for a substring filter: a
        // list "since" a date may hold most requests, which a rare needle's trigram rows
        // would not.
        let narrow = match self.db.backend {
            Backend::Sqlite => narrowed,
            Backend::Postgres => bounded(f),
        };
        for (col, lowered, val) in substring_filters(f) {
            if let Some(v) = val {
                let rarest = rarest
                    .iter()
                    .find(|(c, _)| *c == col)
                    .map(|(_, t)| t.as_str());
                c = c.add(self.db.request_substring(col, lowered, v, narrow, rarest));
            }
        }
        if let Some(overdue) = f.overdue {
            // On SQLite `+` keeps the planner from reading the page through the due-date
            // index and sorting every overdue request; the page walks its sort's index and
            // the total comes from counters. The due-date index still serves `sort=dueDate`.
            let due = match self.db.backend {
                Backend::Sqlite => Expr::cust_with_values("+\"due_date\" < ?", [f.now]),
                Backend::Postgres => Expr::col(a("due_date")).lt(f.now),
            };
            let is_overdue = Cond::all()
                .add(Expr::col(a("status")).ne(compliance::RESOLVED))
                .add(due);
            c = c.add(if overdue {
                is_overdue
            } else {
                is_overdue.not()
            });
        }
        c
    }

    /// The statements of a compliance-request page and its total (see
    /// [`crate::paging::fetch_counted`]).
    fn render_request_page(
        &self,
        f: &RequestFilter,
        page: &Page,
        rarest: &[(&'static str, String)],
    ) -> crate::paging::RenderedPage {
        let cond = self.request_conditions(f, rarest);
        // Deferred join: the page's ids come from an index, then only those rows are read;
        // the total comes with them, from the same snapshot.
        let (col, text, nullable) = request_sort_column(&page.sort);
        let order = if page.desc { Order::Desc } else { Order::Asc };
        let mut ids = Query::select();
        ids.column(a("id"))
            .from(a("compliance_requests"))
            .cond_where(cond.clone());
        if self.db.backend == Backend::Postgres
            && (f.start_date.is_some() || f.end_date.is_some())
            && col != "request_date"
        {
            // A date range is read from the request-date index and its page sorted, at a
            // cost that grows with the range; PostgreSQL would otherwise walk the sort's
            // index from the newest request and test every one until the range fills a
            // page (its estimate takes request and creation dates as unrelated), through a
            // year of requests for a range a year back. The order is unchanged.
            let sort = self.db.unindexed(col, text);
            crate::paging::order_page_by(&mut ids, sort, col, nullable, page);
        } else {
            crate::paging::order_page(self, &mut ids, col, text, nullable, page);
        }
        let mut q = Query::select();
        // One JSON array per row; the columns only searches read are left out (`null`).
        let unread = ["domain_lower", "user_email_lower", "search_text"];
        q.expr_as(self.db.json_row(&CR_COLUMNS, &unread), a("cr"))
            .from(a("compliance_requests"));
        if nullable {
            q.order_by_expr(Expr::col(a(col)).is_null(), Order::Asc);
        }
        q.order_by_expr(self.sort_expr(col, text), order.clone())
            .order_by(a("id"), order);
        let total = self.request_total(f, cond);
        let page_sql = if rarest.is_empty() {
            q.and_where(Expr::col(a("id")).in_subquery(ids));
            crate::paging::with_total(q, &total)
        } else {
            // A substring search on SQLite starts from a trigram's candidates and reads
            // each candidate's row to test it; the page is sorted from all of them. One
            // pass counts them as it sorts, instead of a second pass for the total.
            crate::paging::counted_in_one_pass("compliance_requests", q, ids)
        };
        crate::paging::RenderedPage {
            page: self.db.sql(&page_sql),
            total: self.db.sql(&total),
        }
    }

    /// On SQLite, the rarest trigram of each substring filter of `f` (by column), when the
    /// list is not already narrowed by a date range or an exact id.
    async fn rarest_trigrams(&self, f: &RequestFilter) -> Result<Vec<(&'static str, String)>> {
        let mut out = Vec::new();
        if self.db.backend != Backend::Sqlite || narrowed(f) {
            return Ok(out);
        }
        for (col, _, val) in substring_filters(f) {
            if let Some(v) = val {
                if let Some(t) = self.db.rarest_trigram(col, v).await? {
                    out.push((col, t));
                }
            }
        }
        Ok(out)
    }

    /// The query of the exact number of requests matching `f` (whose conditions are
    /// `cond`). Filters by project, status, request type and `overdue` only, the common
    /// views of the inbox, are answered from the counters that triggers keep in the same
    /// transaction as every write (`compliance_request_counts`, and for `overdue`
    /// `compliance_request_due_counts` plus today's open requests due before now); any
    /// other filter counts the matching rows.
    pub(crate) fn request_total(&self, f: &RequestFilter, cond: Cond) -> SelectStatement {
        let counted = RequestFilter {
            organization_id: f.organization_id,
            project_ids: f.project_ids.clone(),
            request: f.request.clone(),
            status: f.status.clone(),
            overdue: f.overdue,
            now: f.now,
            ..RequestFilter::default()
        };
        let mut q = Query::select();
        if *f != counted {
            q.expr(Expr::cust("COUNT(*)"))
                .from(a("compliance_requests"))
                .cond_where(cond);
            return q;
        }
        let sub =
            |q: SelectStatement| SimpleExpr::SubQuery(None, Box::new(q.into_sub_query_statement()));
        match f.overdue {
            None => {
                q.expr(Expr::cust("CAST(COALESCE(SUM(n), 0) AS BIGINT)"))
                    .from(a("compliance_request_counts"))
                    .cond_where(self.counted_where(f));
            }
            Some(true) => {
                q.expr(self.overdue_total(f));
            }
            Some(false) => {
                let mut all = Query::select();
                all.expr(Expr::cust("COALESCE(SUM(n), 0)"))
                    .from(a("compliance_request_counts"))
                    .cond_where(self.counted_where(f));
                q.expr(Expr::cust_with_exprs(
                    self.marks("CAST({} - ({}) AS BIGINT)"),
                    [sub(all), self.overdue_total(f)],
                ));
            }
        }
        q
    }

    /// The project, status and request-type conditions of a counter table.
    fn counted_where(&self, f: &RequestFilter) -> Cond {
        let mut c = Cond::all().add(in_projects(&f.project_ids));
        if !f.request.is_empty() {
            c = c.add(Expr::col(a("request")).is_in(f.request.clone()));
        }
        if !f.status.is_empty() {
            c = c.add(Expr::col(a("status")).is_in(f.status.clone()));
        }
        c
    }

    /// The number of open requests matching `f`'s project, status and request-type filters
    /// that are overdue at `f.now`: the counted days before today's (UTC) and a count of the
    /// open requests due today before now.
    fn overdue_total(&self, f: &RequestFilter) -> SimpleExpr {
        let sub =
            |q: SelectStatement| SimpleExpr::SubQuery(None, Box::new(q.into_sub_query_statement()));
        let day = f.now.div_euclid(DAY_MS);
        let mut past = Query::select();
        past.expr(Expr::cust("COALESCE(SUM(n), 0)"))
            .from(a("compliance_request_due_counts"))
            .cond_where(self.counted_where(f).add(Expr::col(a("due_day")).lt(day)));
        let mut today = Query::select();
        today
            .expr(Expr::cust("COUNT(*)"))
            .from(a("compliance_requests"))
            .cond_where(
                self.counted_where(f)
                    .add(Expr::col(a("due_date")).gte(day * DAY_MS))
                    .add(Expr::col(a("due_date")).lt(f.now))
                    .add(Expr::col(a("status")).ne(compliance::RESOLVED)),
            );
        Expr::cust_with_exprs(
            self.marks("CAST({} + {} AS BIGINT)"),
            [sub(past), sub(today)],
        )
    }

    /// `template` with each `{}` replaced by the expression mark of the backend's query
    /// builder (`?` on SQLite, `$1`, `$2`, … on PostgreSQL), for `Expr::cust_with_exprs`.
    fn marks(&self, template: &str) -> String {
        let mut out = String::new();
        for (i, part) in template.split("{}").enumerate() {
            if i > 0 {
                match self.db.backend {
                    Backend::Sqlite => out.push('?'),
                    Backend::Postgres => out.push_str(&format!("${i}")),
                }
            }
            out.push_str(part);
        }
        out
    }

    pub(crate) fn sort_expr(&self, col: &str, text: bool) -> SimpleExpr {
        if text && self.db.backend == Backend::Postgres {
            Expr::cust(format!("\"{col}\" COLLATE \"C\""))
        } else {
            Expr::col(a(col)).into()
        }
    }
}

/// The substring filters of `f`: (column, whether it holds lowercase text, needle).
fn substring_filters(f: &RequestFilter) -> [(&'static str, bool, &Option<String>); 6] {
    [
        ("user_email_lower", true, &f.user_email),
        ("session_user_agent", false, &f.user_agent),
        ("notes", false, &f.notes),
        ("request_details", false, &f.request_details),
        ("resolution", false, &f.resolution),
        ("search_text", true, &f.text),
    ]
}

/// A date range or an exact id narrows a list through its own index better than a
/// substring filter does.
fn narrowed(f: &RequestFilter) -> bool {
    f.start_date.is_some() || f.end_date.is_some() || exact_id(f)
}

/// Both ends of a date range, or an exact id, narrow a list to few requests.
fn bounded(f: &RequestFilter) -> bool {
    (f.start_date.is_some() && f.end_date.is_some()) || exact_id(f)
}

/// The list asks for one request, identity or session by its id.
fn exact_id(f: &RequestFilter) -> bool {
    f.id.is_some() || f.concord_id.is_some() || f.session_id.is_some()
}

/// `project_id` is one of `ids`: a single project is an equality, which lets the planner
/// read an index in sort order.
fn in_projects(ids: &[Uuid]) -> SimpleExpr {
    match ids {
        [one] => Expr::col(a("project_id")).eq(one.to_string()),
        many => Expr::col(a("project_id")).is_in(many.iter().map(|p| p.to_string())),
    }
}

/// [`in_projects`] as an expression no SQLite index serves (the unary `+`).
fn in_projects_unindexed(ids: &[Uuid]) -> SimpleExpr {
    let marks = vec!["?"; ids.len()].join(", ");
    Expr::cust_with_values(
        format!("+\"project_id\" IN ({marks})"),
        ids.iter().map(|p| p.to_string()),
    )
}

fn request_sort_column(sort: &str) -> (&'static str, bool, bool) {
    // (column, is text, nullable)
    match sort {
        "dateUpdated" => ("date_updated", false, false),
        "requestDate" => ("request_date", false, false),
        "verifiedDate" => ("verified_date", false, true),
        "acknowledgedDate" => ("acknowledged_date", false, true),
        "resolvedDate" => ("resolved_date", false, true),
        "dueDate" => ("due_date", false, false),
        "status" => ("status", true, false),
        "request" => ("request", true, false),
        "userEmail" => ("user_email", true, true),
        _ => ("date_created", false, false),
    }
}

#[async_trait::async_trait]
impl ComplianceStore for SqlStore {
    async fn create_compliance_requests(
        &self,
        project: &Project,
        identities: Vec<accord_core::consent::Identifiers>,
        actor: Actor,
        now: i64,
        plan: PlanFn,
    ) -> Result<Vec<ComplianceRequest>> {
        let call = CreateCall {
            project: project.clone(),
            identities,
            actor,
            now,
            plan,
        };
        match self.db.backend {
            Backend::Sqlite => self.create_grouped(call).await,
            Backend::Postgres => self.create_requests(call).await,
        }
    }

    async fn get_compliance_request(
        &self,
        org: Uuid,
        project: Uuid,
        id: Uuid,
    ) -> Result<Option<ComplianceRequest>> {
        let mut q = Query::select();
        q.columns(CR_COLUMNS.map(a))
            .from(a("compliance_requests"))
            .and_where(Expr::col(a("id")).eq(id.to_string()))
            .and_where(Expr::col(a("organization_id")).eq(org.to_string()))
            .and_where(Expr::col(a("project_id")).eq(project.to_string()));
        let row: Option<CrRow> = one(&self.db, &self.db.read, &q).await?;
        row.map(CrRow::into_model).transpose()
    }

    async fn update_compliance_request(
        &self,
        org: Uuid,
        project: Uuid,
        id: Uuid,
        actor: Actor,
        f: UpdateFn,
    ) -> Result<Option<ComplianceRequest>> {
        let mut tx = self.db.begin_write().await?;
        let mut q = Query::select();
        q.columns(CR_COLUMNS.map(a))
            .from(a("compliance_requests"))
            .and_where(Expr::col(a("id")).eq(id.to_string()))
            .and_where(Expr::col(a("organization_id")).eq(org.to_string()))
            .and_where(Expr::col(a("project_id")).eq(project.to_string()));
        if self.db.locks_rows() {
            q.lock(sea_query::LockType::Update);
        }
        let Some(row): Option<CrRow> = one(&self.db, &mut *tx, &q).await? else {
            return Ok(None);
        };
        let mut cr = row.into_model()?;
        let before = cr.clone();
        let change = f(&mut cr)?;
        for m in &change.messages {
            lifecycle::insert_message(self, &mut tx, m).await?;
        }
        if cr != before {
            self.write_request(&mut tx, &cr).await?;
        }
        self.insert_events(
            &mut tx,
            &cr,
            actor,
            &change.events,
            cr.date_updated.max(now_ms()),
        )
        .await?;
        tx.commit().await.map_err(db_err)?;
        Ok(Some(cr))
    }

    async fn list_compliance_requests(
        &self,
        f: &RequestFilter,
        page: &Page,
    ) -> Result<(i64, Vec<ComplianceRequest>)> {
        if f.project_ids.is_empty() {
            return Ok((0, vec![]));
        }
        let rarest = self.rarest_trigrams(f).await?;
        let rendered = if f.overdue.is_some() {
            // Rendered with the time of the call (`now`), so never asked for again: not kept,
            // so as not to push the others out.
            std::sync::Arc::new(self.render_request_page(f, page, &rarest))
        } else {
            // `now` matters only to the `overdue` filter.
            let key = ListKey {
                filter: RequestFilter {
                    now: 0,
                    ..f.clone()
                },
                page: page.clone(),
                rarest,
            };
            let kept = &self.caches.list_statements;
            match kept.get(&key) {
                Ok(r) => r,
                Err(ticket) => {
                    let r = std::sync::Arc::new(self.render_request_page(f, page, &key.rarest));
                    kept.fill(ticket, key, r.clone());
                    r
                }
            }
        };
        let (total, rows): (i64, Vec<CrJson>) = crate::paging::fetch_counted(
            self,
            &rendered.page,
            page.offset,
            &crate::paging::Total::Rendered(&rendered.total),
            Some(CrJson::from_lite),
        )
        .await?;
        let items = rows
            .into_iter()
            .map(CrJson::into_model)
            .collect::<Result<Vec<_>>>()?;
        Ok((total, items))
    }

    async fn count_compliance_requests(&self, f: &RequestFilter) -> Result<i64> {
        if f.project_ids.is_empty() {
            return Ok(0);
        }
        let rarest = self.rarest_trigrams(f).await?;
        let cond = self.request_conditions(f, &rarest);
        crate::read_count(&self.db, &self.request_total(f, cond)).await
    }

    async fn list_request_events(
        &self,
        f: &EventFilter,
        page: &Page,
    ) -> Result<(i64, Vec<RequestEvent>)> {
        if f.project_ids.is_empty() {
            return Ok((0, vec![]));
        }
        // The caller passes only projects of `f.organization_id`, so the project alone scopes
        // the query, and a date range is read from the project's index alone.
        let mut c = Cond::all().add(in_projects(&f.project_ids));
        if let Some(v) = f.start_date {
            c = c.add(Expr::col(a("date_created")).gte(v));
        }
        if let Some(v) = f.end_date {
            c = c.add(Expr::col(a("date_created")).lt(v));
        }
        if let Some(v) = f.account_id {
            c = c.add(Expr::col(a("account_id")).eq(v.to_string()));
        }
        if let Some(v) = f.compliance_request_id {
            c = c.add(Expr::col(a("compliance_request_id")).eq(v.to_string()));
        }
        if let Some(v) = f.event_id {
            c = c.add(Expr::col(a("id")).eq(v.to_string()));
        }
        if !f.events.is_empty() {
            c = c.add(Expr::col(a("event")).is_in(f.events.clone()));
        }
        let sort = if page.sort == "event" {
            ("event", true, false)
        } else {
            ("date_created", false, false)
        };
        let counted = EventFilter {
            organization_id: f.organization_id,
            project_ids: f.project_ids.clone(),
            events: f.events.clone(),
            ..EventFilter::default()
        };
        let (total, rows): (i64, Vec<EventRow>) = if *f == counted {
            // By project and event type only, the common views: the total from the
            // counters that triggers keep with every event written or deleted.
            let mut total = Query::select();
            let mut tc = Cond::all().add(in_projects(&f.project_ids));
            if !f.events.is_empty() {
                tc = tc.add(Expr::col(a("event")).is_in(f.events.clone()));
            }
            total
                .expr(Expr::cust("CAST(COALESCE(SUM(n), 0) AS BIGINT)"))
                .from(a("compliance_request_event_counts"))
                .cond_where(tc);
            let mut q = Query::select();
            q.columns(EVENT_COLUMNS.iter().map(|c| a(c)))
                .from(a("compliance_request_events"))
                .cond_where(c);
            crate::paging::order_page(self, &mut q, sort.0, sort.1, sort.2, page);
            crate::paging::page_and_total(self, q, page.offset, total, None).await?
        } else {
            page_of(
                self,
                "compliance_request_events",
                &EVENT_COLUMNS,
                c,
                sort,
                page,
            )
            .await?
        };
        let items = rows
            .into_iter()
            .map(EventRow::into_model)
            .collect::<Result<Vec<_>>>()?;
        Ok((total, items))
    }

    async fn append_request_event(
        &self,
        cr: &ComplianceRequest,
        actor: Actor,
        event: NewEvent,
    ) -> Result<()> {
        let mut conn = self.db.write.acquire().await.map_err(db_err)?;
        self.insert_events(&mut conn, cr, actor, &[event], now_ms())
            .await
    }

    async fn data_system_summaries(
        &self,
        org: Uuid,
        ids: &[Uuid],
    ) -> Result<HashMap<Uuid, DataSystemSummary>> {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        let mut q = Query::select();
        q.columns(["id", "name", "data_system_type_id"].map(a))
            .from(a("data_systems"))
            .and_where(Expr::col(a("organization_id")).eq(org.to_string()))
            .and_where(Expr::col(a("id")).is_in(ids.iter().map(|i| i.to_string())));
        let rows: Vec<DataSystemRow> = all(&self.db, &self.db.read, &q).await?;
        rows.into_iter()
            .map(|r| {
                let id = uid(&r.id)?;
                Ok((
                    id,
                    DataSystemSummary {
                        id,
                        name: r.name,
                        data_system_type_id: r.data_system_type_id,
                    },
                ))
            })
            .collect()
    }

    async fn site_create_counts(
        &self,
        project: Uuid,
        ip: Option<&str>,
        email_lower: &str,
        since: i64,
    ) -> Result<accord_core::store::SiteCreateCounts> {
        lifecycle::site_create_counts(self, project, ip, email_lower, since).await
    }

    async fn verify_compliance_request(
        &self,
        project: Uuid,
        key: ChallengeKey,
        now: i64,
        decide: VerifyFn,
    ) -> Result<Option<(ComplianceRequest, Verification)>> {
        lifecycle::verify(self, project, key, now, decide).await
    }

    async fn due_purges(&self, now: i64, limit: u64) -> Result<Vec<(Uuid, Uuid, Uuid)>> {
        lifecycle::due_purges(self, now, limit).await
    }
}

/// What a compliance-request page's statements are rendered from, for a list without the
/// `overdue` filter (whose statements hold the time of the call): its filters (`now`
/// zeroed), its page and the trigram of each substring filter.
#[derive(PartialEq, Eq, Hash)]
pub(crate) struct ListKey {
    filter: RequestFilter,
    page: Page,
    rarest: Vec<(&'static str, String)>,
}
