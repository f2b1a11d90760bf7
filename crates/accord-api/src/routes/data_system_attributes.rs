//! `/privacy-v1/organizations/{organizationId}/data-system-{kind}[/{attributeId}]` for the
//! nine attribute kinds, and `…/data-system-attributes`, the list over every kind (§6.3,
//! §6.4). Predefined values are read-only; deleting an attribute unlinks it.
//!
//! The handlers of a kind answer `AttributeView<X, Linked>`, where `X` is the type of the
//! kind's own fields, so each kind publishes exactly its fields.
use crate::error::ApiResult;
use crate::extract::{Admin, JsonBody, OrgScope, Viewer};
use crate::respond::{created, ok, Json, Page};
use crate::AppState;
use accord_core::datamap::{
    self, Attribute, AttributeKind, AttributeView, CategoryFields, ContactFields, DataMap, Index,
    KindFields, Linked, ListedAttribute, Plain,
};
use accord_core::query;
use accord_core::schema::published;
use accord_core::time::now_ms;
use accord_core::Error;
use axum::extract::{RawQuery, State};
use axum::routing::get;
use axum::Router;
use serde_json::{Map, Value};
use uuid::Uuid;

const ALL: &str = "/organizations/{organizationId}/data-system-attributes";

fn collection(kind: AttributeKind) -> String {
    format!(
        "/organizations/{{organizationId}}/data-system-{}",
        kind.path()
    )
}

fn one(kind: AttributeKind) -> String {
    format!("{}/{{attributeId}}", collection(kind))
}

/// Evaluates `$body` with `$X` naming the type of `$kind`'s own fields.
macro_rules! with_fields {
    ($kind:expr, $X:ident => $body:expr) => {
        match $kind {
            AttributeKind::Contacts => {
                type $X = ContactFields;
                $body
            }
            AttributeKind::DataCategories => {
                type $X = CategoryFields;
                $body
            }
            _ => {
                type $X = Plain;
                $body
            }
        }
    };
}

pub fn router() -> Router<AppState> {
    let mut r = Router::new().route(ALL, get(list_all));
    for kind in AttributeKind::editable().iter().copied() {
        r = with_fields!(kind, X => routes::<X>(r, kind));
    }
    r
}

/// The five routes of one kind.
fn routes<X: KindFields + Send + 'static>(
    r: Router<AppState>,
    kind: AttributeKind,
) -> Router<AppState> {
    r.route(
        &collection(kind),
        get(
            move |s: State<AppState>, scope: OrgScope<Viewer>, q: RawQuery| {
                list::<X>(kind, s, scope, q)
            },
        )
        .post(
            move |s: State<AppState>, scope: OrgScope<Admin>, b: JsonBody| {
                create::<X>(kind, s, scope, b)
            },
        ),
    )
    .route(
        &one(kind),
        get(move |s: State<AppState>, scope: OrgScope<Viewer>| get_one::<X>(kind, s, scope))
            .patch(
                move |s: State<AppState>, scope: OrgScope<Admin>, b: JsonBody| {
                    update::<X>(kind, s, scope, b)
                },
            )
            .delete(move |s: State<AppState>, scope: OrgScope<Admin>| delete::<X>(kind, s, scope)),
    )
}

fn render<X: KindFields>(map: &DataMap, id: Uuid) -> ApiResult<AttributeView<X, Linked>> {
    let idx = Index::new(map);
    let a = idx.attributes.get(&id).ok_or_else(Error::not_found)?;
    Ok(AttributeView::linked(a, &idx))
}

fn find_attribute(map: &DataMap, kind: AttributeKind, id: Uuid) -> accord_core::Result<Attribute> {
    map.attributes
        .iter()
        .find(|a| a.id == id && a.kind == kind)
        .cloned()
        .ok_or_else(Error::not_found)
}

async fn list<X: KindFields>(
    kind: AttributeKind,
    State(state): State<AppState>,
    scope: OrgScope<Viewer>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<Page<AttributeView<X, Linked>>>> {
    let org_id = scope.org.id;
    let q = query::parse(raw.as_deref(), datamap::attribute_list_params(kind))?;
    let map = state.store.data_map(org_id).await?;
    let idx = Index::new(&map);
    let page = query::Page::from_query(&q, "dateCreated");
    let (total, items) = datamap::list_attributes(&idx, &[kind], &q, &page);
    let items = items
        .into_iter()
        .map(|a| AttributeView::linked(a, &idx))
        .collect();
    Ok(ok(Page::new(&page, total, items)))
}

/// `GET …/data-system-attributes`: every kind, or the one `attributeName` names; each item
/// carries its `attributeName`.
async fn list_all(
    State(state): State<AppState>,
    scope: OrgScope<Viewer>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<Page<ListedAttribute>>> {
    let org_id = scope.org.id;
    let q = query::parse(raw.as_deref(), datamap::all_attributes_params())?;
    let kinds: Vec<AttributeKind> = match q.str("attributeName") {
        Some(n) => AttributeKind::from_attribute_name(n).into_iter().collect(),
        None => AttributeKind::ALL.to_vec(),
    };
    let map = state.store.data_map(org_id).await?;
    let idx = Index::new(&map);
    let page = query::Page::from_query(&q, "dateCreated");
    let (total, items) = datamap::list_attributes(&idx, &kinds, &q, &page);
    let items = items
        .into_iter()
        .map(|a| ListedAttribute::new(a, &idx))
        .collect();
    Ok(ok(Page::new(&page, total, items)))
}

/// Creates (no `attributeId` in the path) or updates an attribute of `kind`.
async fn write<X: KindFields>(
    kind: AttributeKind,
    state: &AppState,
    scope: &OrgScope<Admin>,
    raw: &Value,
) -> ApiResult<AttributeView<X, Linked>> {
    let id = match scope.path.has("attributeId") {
        true => Some(scope.id("attributeId")?),
        false => None,
    };
    let id = write_attribute(state, scope.org.id, kind, id, raw).await?;
    let map = state.store.data_map(scope.org.id).await?;
    render(&map, id)
}

/// Creates (`id` None) or updates an attribute of `kind` of the organization `org_id` from
/// a Privacy API body (§6.3) and answers its id: the body's schema, the rules of
/// `attribute_write` and the store's write. The route and the console's forms both use it.
pub async fn write_attribute(
    state: &AppState,
    org_id: Uuid,
    kind: AttributeKind,
    id: Option<Uuid>,
    raw: &Value,
) -> accord_core::Result<Uuid> {
    let input = datamap::parse_attribute(raw, kind, id.is_none())?;
    let map = state.store.data_map(org_id).await?;
    let existing = match id {
        Some(id) => Some(find_attribute(&map, kind, id)?),
        None => None,
    };
    let create = existing.is_none();
    let idx = Index::new(&map);
    let (attribute, systems) =
        datamap::attribute_write(input, kind, existing, &idx, org_id, now_ms())?;
    state
        .store
        .save_attribute(&attribute, systems.as_deref(), create)
        .await?;
    Ok(attribute.id)
}

/// Deletes an attribute of `kind` of the organization, unlinking it; a predefined
/// (read-only) value is refused (422).
pub async fn delete_attribute(
    state: &AppState,
    org_id: Uuid,
    kind: AttributeKind,
    id: Uuid,
) -> accord_core::Result<()> {
    let map = state.store.data_map(org_id).await?;
    let attribute = find_attribute(&map, kind, id)?;
    if attribute.read_only {
        return Err(Error::unprocessable(datamap::READ_ONLY));
    }
    state.store.delete_attribute(org_id, id).await?;
    Ok(())
}

async fn create<X: KindFields>(
    kind: AttributeKind,
    State(state): State<AppState>,
    scope: OrgScope<Admin>,
    JsonBody(raw): JsonBody,
) -> ApiResult<Json<AttributeView<X, Linked>>> {
    Ok(created(write(kind, &state, &scope, &raw).await?))
}

async fn get_one<X: KindFields>(
    kind: AttributeKind,
    State(state): State<AppState>,
    scope: OrgScope<Viewer>,
) -> ApiResult<Json<AttributeView<X, Linked>>> {
    let id = scope.id("attributeId")?;
    let map = state.store.data_map(scope.org.id).await?;
    find_attribute(&map, kind, id)?;
    Ok(ok(render(&map, id)?))
}

async fn update<X: KindFields>(
    kind: AttributeKind,
    State(state): State<AppState>,
    scope: OrgScope<Admin>,
    JsonBody(raw): JsonBody,
) -> ApiResult<Json<AttributeView<X, Linked>>> {
    Ok(ok(write(kind, &state, &scope, &raw).await?))
}

async fn delete<X: KindFields>(
    kind: AttributeKind,
    State(state): State<AppState>,
    scope: OrgScope<Admin>,
) -> ApiResult<Json<AttributeView<X, Linked>>> {
    let org_id = scope.org.id;
    let id = scope.id("attributeId")?;
    let map = state.store.data_map(org_id).await?;
    find_attribute(&map, kind, id)?;
    let v = render(&map, id)?;
    delete_attribute(&state, org_id, kind, id).await?;
    Ok(ok(v))
}

/// The OpenAPI paths of the attribute endpoints, for the Privacy API document.
pub fn document(paths: &mut Map<String, Value>) {
    use crate::docs::{op, path_params, query_params};
    let org = &["organizationId"][..];
    let mut all_p = path_params(org);
    all_p.extend(query_params(datamap::all_attributes_params()));
    paths.insert(
        ALL.into(),
        serde_json::json!({"get": op("Data Systems", "Get data system attributes of every kind or of one", "Lists the organization's data-map attributes of every kind, or of one with `attributeName` (including the read-only `dataSystemContactTypes` catalogue), each with its kind in `attributeName`. Role: viewer or above.", all_p, None, 200,
            published::<Page<ListedAttribute>>(), &[400, 401, 403, 404, 429, 500], true)}),
    );
    for kind in AttributeKind::editable().iter().copied() {
        with_fields!(kind, X => document_kind::<X>(paths, kind));
    }
}

/// The paths of one kind.
fn document_kind<X: KindFields>(paths: &mut Map<String, Value>, kind: AttributeKind) {
    use crate::docs::{op, path_params, query_params};
    let org = &["organizationId"][..];
    let one_p = &["organizationId", "attributeId"][..];
    let std_errs = &[400, 401, 403, 404, 429, 500][..];
    let write_errs = &[400, 401, 403, 404, 413, 415, 422, 429, 500][..];
    let schema = published::<AttributeView<X, Linked>>();
    let envelope = published::<Page<AttributeView<X, Linked>>>();
    let noun = kind.noun();
    let mut list_p = path_params(org);
    list_p.extend(query_params(datamap::attribute_list_params(kind)));
    paths.insert(
        collection(kind),
        serde_json::json!({
            "get": op("Data Systems", &format!("Get data system {noun} list"), &format!("Lists the organization's {noun} attributes (one kind of its data map), each with the data systems linked to it. Role: viewer or above."), list_p, None, 200, envelope, std_errs, true),
            "post": op("Data Systems", &format!("Create data system {noun}"), &format!("Creates one {noun} attribute of the organization, its name unique for this kind (422 `attribute already exists`), and links it to `dataSystems`. Role: admin or owner."), path_params(org),
                Some(datamap::attribute_body_schema(kind, true).json_schema()), 201, schema.clone(), write_errs, true),
        }),
    );
    paths.insert(
        one(kind),
        serde_json::json!({
            "get": op("Data Systems", &format!("Get one data system {noun}"), &format!("Answers one {noun} attribute of the organization. Role: viewer or above."), path_params(one_p), None, 200, schema.clone(), std_errs, true),
            "patch": op("Data Systems", &format!("Update data system {noun}"), &format!("Changes one {noun} attribute of the organization; `dataSystems` replaces its links. A predefined (read-only) value gives 422 `read-only attribute cannot be modified`. Role: admin or owner."), path_params(one_p),
                Some(datamap::attribute_body_schema(kind, false).json_schema()), 200, schema.clone(), write_errs, true),
            "delete": op("Data Systems", &format!("Delete data system {noun}"), &format!("Deletes one {noun} attribute of the organization, unlinking it from every data system, and answers it. A predefined (read-only) value gives 422. Role: admin or owner."), path_params(one_p), None, 200, schema, write_errs, true),
        }),
    );
}
