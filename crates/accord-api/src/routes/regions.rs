//! `/privacy-v1/organizations/{organizationId}/projects/{projectId}/regions`: the Regions
//! of a project and their languages (§7.8).
use crate::error::ApiResult;
use crate::extract::{Admin, JsonBody, ProjectScope, Viewer};
use crate::respond::{created, ok, Json, Page};
use crate::AppState;
use accord_core::admin::paginate;
use accord_core::query::{self, p, paging, Kind, Param};
use accord_core::regions::{
    self, LanguagesBody, PatchRegion, Region, RegionFilter, RegionTemplate, RegionView,
    BLOCKING_MODES, REGION_SORTS,
};
use accord_core::schema::{parse, published, string};
use accord_core::store::Project;
use accord_core::time::now_ms;
use accord_core::Error;
use axum::extract::{RawQuery, State};
use axum::routing::{get, post};
use axum::Router;
use serde_json::{Map, Value};
use std::sync::OnceLock;

const COLLECTION: &str = "/organizations/{organizationId}/projects/{projectId}/regions";
const ONE: &str = "/organizations/{organizationId}/projects/{projectId}/regions/{regionId}";
const LANGUAGES: &str =
    "/organizations/{organizationId}/projects/{projectId}/regions/{regionId}/languages";

pub fn router() -> Router<AppState> {
    Router::new()
        .route(COLLECTION, get(list).post(create))
        .route(ONE, get(get_one).patch(update).delete(delete))
        .route(LANGUAGES, post(languages))
}

/// Query of the region list (§7.8).
pub fn list_params() -> &'static [Param] {
    static P: OnceLock<Vec<Param>> = OnceLock::new();
    P.get_or_init(|| {
        let mut v = paging(REGION_SORTS);
        v.extend([
            p("name", Kind::Str(string().max(256))).doc("Case-insensitive substring of the region's name (at most 256 characters)."),
            p("regionCountry", Kind::Str(string().max(2))).doc("Only regions holding this country (ISO 3166-1 alpha-2), one of its subdivisions, or an alias (`EU`, `EEA`) it belongs to."),
            p("regionSubDivision", Kind::Str(string().max(6))).doc("Only regions holding this ISO 3166-2 code (exact)."),
            p("consentMode", Kind::Str(string().max(16))).doc("Only regions whose `settings.consent.consentMode` is this (`express`, `implied`)."),
            p("blockingMode", Kind::EnumList(BLOCKING_MODES)).doc("Only regions whose `settings.consent.blockingMode` is one of these; repeat the key for several."),
            p("enableDoNotSell", Kind::Bool).doc("Only regions whose `settings.consent.doNotSell` is this."),
            p("enableGpc", Kind::Bool).doc("Only regions whose `settings.consent.gpc` is this."),
        ]);
        v
    })
}

/// The Region objects of `items`, each banner policy shown as its consent type.
async fn render(
    state: &AppState,
    project: &Project,
    items: &[Region],
) -> ApiResult<Vec<RegionView>> {
    let types = state
        .store
        .project_consent_types(project.organization_id, project.id)
        .await?;
    Ok(items.iter().map(|r| regions::view(r, &types)).collect())
}

async fn render_one(state: &AppState, project: &Project, r: &Region) -> ApiResult<RegionView> {
    Ok(render(state, project, std::slice::from_ref(r))
        .await?
        .pop()
        .expect("one region"))
}

/// A banner policy given in `settings` must be a consent type of the project (422).
async fn check_policy(
    state: &AppState,
    project: &Project,
    settings: Option<&Value>,
) -> ApiResult<()> {
    let Some(id) = regions::given_policy(settings) else {
        return Ok(());
    };
    let types = state
        .store
        .project_consent_types(project.organization_id, project.id)
        .await?;
    if types.iter().any(|t| t.id == id) {
        Ok(())
    } else {
        Err(Error::unprocessable(regions::POLICY_NOT_FOUND).into())
    }
}

async fn list(
    State(state): State<AppState>,
    scope: ProjectScope<Viewer>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<Page<RegionView>>> {
    let q = query::parse(raw.as_deref(), list_params())?;
    let project = scope.project()?;
    let filter = RegionFilter {
        name: q.str("name").map(str::to_string),
        region_country: q.str("regionCountry").map(str::to_string),
        region_sub_division: q.str("regionSubDivision").map(str::to_string),
        consent_mode: q.str("consentMode").map(str::to_string),
        blocking_mode: q.list("blockingMode").map(<[String]>::to_vec),
        do_not_sell: q.bool("enableDoNotSell"),
        gpc: q.bool("enableGpc"),
    };
    let all: Vec<Region> = state
        .store
        .list_regions(project.id)
        .await?
        .into_iter()
        .filter(|r| filter.matches(r))
        .collect();
    let page = query::Page::from_query(&q, "dateCreated");
    let (total, items) = paginate(all, &page, regions::sort_key, |r| r.id);
    let items = render(&state, project, &items).await?;
    Ok(ok(Page::new(&page, total, items)))
}

async fn create(
    State(state): State<AppState>,
    scope: ProjectScope<Admin>,
    JsonBody(raw): JsonBody,
) -> ApiResult<Json<RegionView>> {
    let input: RegionTemplate = parse(&raw, regions::region_create_schema())?;
    // Body rules (400) come before the project's existence (404), refusals (422) after.
    let planned = match regions::plan(&input, false, "body") {
        Err(Error::BadRequest(m)) => return Err(Error::BadRequest(m).into()),
        other => other,
    };
    let project = scope.project()?;
    let mut draft = planned?;
    check_policy(&state, project, input.settings.as_ref()).await?;
    let types = state
        .store
        .project_consent_types(project.organization_id, project.id)
        .await?;
    draft.fill_policy(
        types
            .iter()
            .find(|t| t.label == "privacy_policy")
            .map(|t| t.id),
    );
    let region = draft.into_region(project.organization_id, project.id, now_ms());
    state.store.create_region(&region).await?;
    Ok(created(regions::view(&region, &types)))
}

/// The addressed Region of the addressed project, or 404.
async fn found<R>(state: &AppState, scope: &ProjectScope<R>) -> ApiResult<Region> {
    let project = scope.project()?;
    Ok(state
        .store
        .get_region(project.id, scope.id("regionId")?)
        .await?
        .ok_or_else(Error::not_found)?)
}

async fn get_one(
    State(state): State<AppState>,
    scope: ProjectScope<Viewer>,
) -> ApiResult<Json<RegionView>> {
    let r = found(&state, &scope).await?;
    Ok(ok(render_one(&state, scope.project()?, &r).await?))
}

async fn update(
    State(state): State<AppState>,
    scope: ProjectScope<Admin>,
    JsonBody(raw): JsonBody,
) -> ApiResult<Json<RegionView>> {
    let patch = parse_patch(&raw)?;
    let r = found(&state, &scope).await?;
    let project = scope.project()?;
    let r = save_patch(&state, project, r, &patch).await?;
    Ok(ok(render_one(&state, project, &r).await?))
}

/// A Region PATCH body (§7.8), its codes checked (400) before the Region is looked up.
pub fn parse_patch(raw: &Value) -> ApiResult<PatchRegion> {
    let patch: PatchRegion = parse(raw, regions::region_patch_schema())?;
    if let Some(codes) = &patch.regions {
        regions::stored_codes(codes, "body")?;
    }
    Ok(patch)
}

/// Applies a parsed PATCH to Region `r` of `project` (settings deep-merged, the banner
/// policy checked) and stores it: the Privacy API's PATCH and the console's Region form.
pub async fn save_patch(
    state: &AppState,
    project: &Project,
    mut r: Region,
    patch: &PatchRegion,
) -> ApiResult<Region> {
    regions::apply_patch(&mut r.draft, patch)?;
    check_policy(state, project, patch.settings.as_ref()).await?;
    r.date_updated = now_ms();
    state.store.update_region(&r).await?;
    Ok(r)
}

async fn delete(
    State(state): State<AppState>,
    scope: ProjectScope<Admin>,
) -> ApiResult<Json<RegionView>> {
    let r = found(&state, &scope).await?;
    if r.draft.is_default {
        return Err(Error::unprocessable(regions::DEFAULT_UNDELETABLE).into());
    }
    let project = scope.project()?;
    let view = render_one(&state, project, &r).await?;
    state.store.delete_region(r.project_id, r.id).await?;
    Ok(ok(view))
}

/// Sets the Region's `language` and answers 200 with the Region (§7.8).
async fn languages(
    State(state): State<AppState>,
    scope: ProjectScope<Admin>,
    JsonBody(raw): JsonBody,
) -> ApiResult<Json<RegionView>> {
    let body: LanguagesBody = parse(&raw, regions::languages_schema())?;
    let r = found(&state, &scope).await?;
    let r = save_languages(&state, r, &body).await?;
    Ok(ok(render_one(&state, scope.project()?, &r).await?))
}

/// Sets Region `r`'s `language` from a parsed `POST …/languages` body and stores it.
pub async fn save_languages(
    state: &AppState,
    mut r: Region,
    body: &LanguagesBody,
) -> ApiResult<Region> {
    regions::apply_languages(&mut r.draft, body);
    r.date_updated = now_ms();
    state.store.update_region(&r).await?;
    Ok(r)
}

/// The Regions an organization or project create plans: the Default region from
/// `regionTemplate`, then one per `additionalRegions` entry. A banner policy cannot name a
/// type of a project that does not exist yet (422).
pub fn plan_project_regions(
    default: Option<&RegionTemplate>,
    additional: &[RegionTemplate],
) -> ApiResult<Vec<regions::RegionDraft>> {
    let mut out = Vec::with_capacity(1 + additional.len());
    let empty = RegionTemplate::default();
    let default = default.unwrap_or(&empty);
    out.push(regions::plan(default, true, "body/regionTemplate")?);
    for (i, t) in additional.iter().enumerate() {
        out.push(regions::plan(
            t,
            false,
            &format!("body/additionalRegions/{i}"),
        )?);
    }
    let given = std::iter::once(default).chain(additional);
    if given
        .into_iter()
        .any(|t| regions::given_policy(t.settings.as_ref()).is_some())
    {
        return Err(Error::unprocessable(regions::POLICY_NOT_FOUND).into());
    }
    Ok(out)
}

/// The OpenAPI paths of this resource, for the Privacy API document.
pub fn document(paths: &mut Map<String, Value>) {
    use crate::docs::{op, path_params, query_params};
    let proj = &["organizationId", "projectId"][..];
    let one = &["organizationId", "projectId", "regionId"][..];
    let std_errs = &[400, 401, 403, 404, 429, 500][..];
    let write_errs = &[400, 401, 403, 404, 413, 415, 422, 429, 500][..];
    let delete_errs = &[400, 401, 403, 404, 422, 429, 500][..];
    let schema = published::<RegionView>();
    let envelope = published::<Page<RegionView>>();
    let mut list_p = path_params(proj);
    list_p.extend(query_params(list_params()));
    let mut delete = op(
        "Regions",
        "Delete a region (not the Default region); returns the deleted Region",
        "Deletes a region and answers it; its codes fall back to the Default region. Role: admin or owner.",
        path_params(one),
        None,
        200,
        schema.clone(),
        delete_errs,
        true,
    );
    crate::docs::append_description(
        &mut delete,
        serde_json::json!(format!(
            "The Default region gives 422 `{}`.",
            regions::DEFAULT_UNDELETABLE
        )),
    );
    paths.insert(
        COLLECTION.into(),
        serde_json::json!({
            "get": op("Regions", "Regions of a project", "Lists the project's regions: each holds location codes and the banner, consent and widget settings for visitors from there. Role: viewer or above.", list_p, None, 200, envelope, std_errs, true),
            "post": op("Regions", "Create a region", "Creates a region from a RegionTemplate: the template's preset codes and settings, with the given settings deep-merged over them and the defaults. Each code may belong to one region of the project only (422), `default` only to the Default region (422). The banner's `policy`, if given, must be a consent type of the project (422). Role: admin or owner.", path_params(proj), Some(regions::region_create_schema().json_schema()), 201, schema.clone(), write_errs, true),
        }),
    );
    paths.insert(
        ONE.into(),
        serde_json::json!({
            "get": op("Regions", "Get one region", "Answers one region of the project, its banner policy shown as its consent type. Role: viewer or above.", path_params(one), None, 200, schema.clone(), std_errs, true),
            "patch": op("Regions", "Update an existing region", "Changes a region: `settings` are deep-merged (objects merge, scalars and arrays replace), each `language` field replaces the stored one, `regions` replaces the codes (the Default region's cannot change, 422). Role: admin or owner.", path_params(one), Some(regions::region_patch_schema().json_schema()), 200, schema.clone(), write_errs, true),
            "delete": delete,
        }),
    );
    paths.insert(
        LANGUAGES.into(),
        serde_json::json!({
            "post": op("Languages", "Enable or disable multi-language support; returns the Region", "Sets the region's `language`: `enabled`, and each other field given. Accord does not translate: the widget uses `translations`, then its built-in strings, then English. Answers 200 with the Region. Role: admin or owner.", path_params(one), Some(regions::languages_schema().json_schema()), 200, schema, write_errs, true),
        }),
    );
}
