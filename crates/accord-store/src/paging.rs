//! Paging and substring filters written once: one page of a filtered table's rows, ordered
//! by a sort column (items without a value last when it is nullable), then by id in the
//! same direction, and its exact `total` (§1.7), both read by one statement so that they
//! come from one snapshot of the database.
use crate::db::db_err;
use crate::{a, read_count, SqlStore};
use accord_core::query::Page;
use accord_core::store::StoreResult as Result;
use sea_query::{
    Alias, Cond, Expr, Func, JoinType, LikeExpr, Order, Query, SelectStatement, SimpleExpr,
};
use sea_query_binder::SqlxValues;
use sqlx::{FromRow, Row};

/// How SQLite reads a row on the calling thread (see `lite.rs`).
pub(crate) type LiteRow<T> = fn(&rusqlite::Row<'_>) -> rusqlite::Result<T>;

/// How SQLite reads a page's row on the calling thread, from the page's own columns
/// (starting at the first); the total is the last column. `None` for rows that go through
/// sqlx.
pub(crate) type LiteDecode<T> = Option<LiteRow<T>>;

/// The column that carries the total beside each row of a page.
const TOTAL: &str = "accord_total";

/// Runs `page` (starting `offset` rows in) with `total` (a query of one integer) as an
/// extra column, so that the rows and the total are read in one statement: a concurrent
/// write is either in both or in neither. A first page with no rows means nothing matched;
/// only a page past the end reads the total on its own (there are no items for it to
/// contradict).
pub(crate) async fn page_and_total<T>(
    s: &SqlStore,
    page: SelectStatement,
    offset: i64,
    total: SelectStatement,
    lite: LiteDecode<T>,
) -> Result<(i64, Vec<T>)>
where
    T: for<'r> FromRow<'r, sqlx::any::AnyRow> + Send + Unpin,
{
    let page = with_total(page, &total);
    fetch_counted(s, &s.db.sql(&page), offset, &Total::Statement(&total), lite).await
}

/// `page` with `total` (a query of one integer) as its last column (see
/// [`page_and_total`]).
pub(crate) fn with_total(mut page: SelectStatement, total: &SelectStatement) -> SelectStatement {
    page.expr_as(
        SimpleExpr::SubQuery(None, Box::new(total.clone().into_sub_query_statement())),
        a(TOTAL),
    );
    page
}

/// A page's statement and its total's, rendered: what [`fetch_counted`] runs. A list
/// keeps these by its filters and page (see `list_compliance_requests`), and renders them
/// again only for filters it has not seen lately.
pub(crate) struct RenderedPage {
    pub page: (String, SqlxValues),
    pub total: (String, SqlxValues),
}

/// The query of a page's total, read on its own only for a page past the end.
pub(crate) enum Total<'q> {
    Statement(&'q SelectStatement),
    Rendered(&'q (String, SqlxValues)),
}

/// Reads `page` (rendered), whose rows carry the total as their [`TOTAL`] column. A first
/// page with no rows means nothing matched; a page past the end reads `total` on its own.
pub(crate) async fn fetch_counted<T>(
    s: &SqlStore,
    (sql, values): &(String, SqlxValues),
    offset: i64,
    total: &Total<'_>,
    lite: LiteDecode<T>,
) -> Result<(i64, Vec<T>)>
where
    T: for<'r> FromRow<'r, sqlx::any::AnyRow> + Send + Unpin,
{
    // The total as the first row carries it, and the rows.
    let (total_of_first, items): (Option<i64>, Vec<T>) =
        if let (Some(readers), Some(decode)) = (&s.db.lite, lite) {
            // The total is the last column: `with_total` and `counted_in_one_pass` add it
            // after the page's own.
            let rows = readers.rows(sql, &values.0 .0, |row| {
                let last = row.as_ref().column_count() - 1;
                Ok((row.get::<_, i64>(last)?, decode(row)?))
            })?;
            let n = rows.first().map(|&(n, _)| n);
            (n, rows.into_iter().map(|(_, r)| r).collect())
        } else {
            // On PostgreSQL a page past the first is a statement of its own per offset (see
            // `PgSql` in `db.rs`): it is not kept prepared, so that a client paging deep
            // does not crowd the first pages' statements out of the connection's cache.
            let kept = offset == 0 || s.db.backend == crate::db::Backend::Sqlite;
            let rows = sqlx::query_with(sql, values.clone())
                .persistent(kept)
                .fetch_all(&s.db.read)
                .await
                .map_err(db_err)?;
            let n = rows.first().map(|r| r.try_get(TOTAL)).transpose();
            let items = rows
                .iter()
                .map(T::from_row)
                .collect::<std::result::Result<_, _>>();
            (n.map_err(db_err)?, items.map_err(db_err)?)
        };
    match total_of_first {
        Some(n) => Ok((n, items)),
        None if offset == 0 => Ok((0, vec![])),
        None => {
            let n = match total {
                Total::Statement(q) => read_count(&s.db, *q).await?,
                Total::Rendered((sql, values)) => match &s.db.lite {
                    Some(readers) => readers.integer(sql, &values.0 .0)?,
                    None => sqlx::query_scalar_with::<_, i64, _>(sql, values.clone())
                        .fetch_one(&s.db.read)
                        .await
                        .map_err(db_err)?,
                },
            };
            Ok((n, vec![]))
        }
    }
}

/// The statement of a page (with its total, see [`page_and_total`]) whose plan reads every
/// match anyway (it sorts them all).
/// `ids` selects the ids of `table`'s matches in the page's order, limit and offset set;
/// `rows` reads columns of `table` (its `FROM`) and orders them; it is joined to `ids`.
/// The total is a window count over the matches, taken in the pass that sorts them, so
/// they are read once rather than once more for the total; the rows and the total still
/// come from one statement.
pub(crate) fn counted_in_one_pass(
    table: &str,
    mut rows: SelectStatement,
    mut ids: SelectStatement,
) -> SelectStatement {
    let matched = Alias::new("accord_page");
    let page_id = Alias::new("accord_page_id");
    ids.clear_selects()
        .expr_as(Expr::col(a("id")), page_id.clone())
        .expr_as(Expr::cust("COUNT(*) OVER ()"), a(TOTAL));
    rows.expr_as(Expr::col((matched.clone(), a(TOTAL))), a(TOTAL))
        .join_subquery(
            JoinType::InnerJoin,
            ids,
            matched.clone(),
            Expr::col((a(table), a("id"))).equals((matched, page_id)),
        );
    rows
}

/// Orders `q` by a sort column (items without a value last), then by id.
pub(crate) fn order_page(
    s: &SqlStore,
    q: &mut SelectStatement,
    col: &str,
    text: bool,
    nullable: bool,
    page: &Page,
) {
    order_page_by(q, s.sort_expr(col, text), col, nullable, page);
}

/// [`order_page`] with the sort column's value given as `sort` (an expression of `col`).
pub(crate) fn order_page_by(
    q: &mut SelectStatement,
    sort: SimpleExpr,
    col: &str,
    nullable: bool,
    page: &Page,
) {
    let order = if page.desc { Order::Desc } else { Order::Asc };
    if nullable {
        q.order_by_expr(Expr::col(a(col)).is_null(), Order::Asc);
    }
    q.order_by_expr(sort, order.clone())
        .order_by(a("id"), order)
        .limit(page.limit as u64)
        .offset(page.offset as u64);
}

pub(crate) async fn page_of<T>(
    s: &SqlStore,
    table: &str,
    columns: &[&str],
    cond: Cond,
    sort: (&str, bool, bool),
    page: &Page,
) -> Result<(i64, Vec<T>)>
where
    T: for<'r> FromRow<'r, sqlx::any::AnyRow> + Send + Unpin,
{
    let mut cq = Query::select();
    cq.expr(Expr::col(a("id")).count())
        .from(a(table))
        .cond_where(cond.clone());
    let mut q = Query::select();
    q.columns(columns.iter().map(|c| a(c)))
        .from(a(table))
        .cond_where(cond);
    order_page(s, &mut q, sort.0, sort.1, sort.2, page);
    page_and_total(s, q, page.offset, cq, None).await
}

/// Case-insensitive substring match of free text.
pub(crate) fn contains_ci(col: &str, needle: &str) -> SimpleExpr {
    let escaped = needle
        .to_lowercase()
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    Expr::expr(Func::lower(Expr::col(a(col))))
        .like(LikeExpr::new(format!("%{escaped}%")).escape('\\'))
}
