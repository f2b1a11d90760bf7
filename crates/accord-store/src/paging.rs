//! Paging and substring filters written once: the exact `total` of a filtered table (a
//! COUNT read just before the page) and one page of its rows, ordered by a sort column
//! (items without a value last when it is nullable), then by id in the same direction
//! (§1.7).
use crate::{a, all, count, SqlStore};
use accord_core::query::Page;
use accord_core::store::StoreResult as Result;
use sea_query::{Cond, Expr, Func, LikeExpr, Order, Query, SelectStatement, SimpleExpr};
use sqlx::FromRow;

/// Orders `q` by a sort column (items without a value last), then by id.
pub(crate) fn order_page(
    s: &SqlStore,
    q: &mut SelectStatement,
    col: &str,
    text: bool,
    nullable: bool,
    page: &Page,
) {
    let order = if page.desc { Order::Desc } else { Order::Asc };
    if nullable {
        q.order_by_expr(Expr::col(a(col)).is_null(), Order::Asc);
    }
    q.order_by_expr(s.sort_expr(col, text), order.clone())
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
    let total = count(&s.db, &s.db.read, &cq).await?;
    let mut q = Query::select();
    q.columns(columns.iter().map(|c| a(c)))
        .from(a(table))
        .cond_where(cond);
    order_page(s, &mut q, sort.0, sort.1, sort.2, page);
    let rows: Vec<T> = all(&s.db, &s.db.read, &q).await?;
    Ok((total, rows))
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
