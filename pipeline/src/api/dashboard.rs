//! The dashboard: one page at `/` on `api.listen`, a plain client of the `/v1` API (paste a key,
//! edit signals after testing them, watch matches arrive over `/v1/stream`, per-signal charts
//! from `/v1/signals/{id}/series`).
//!
//! Its HTML, CSS and JavaScript modules are compiled into the binary (`dashboard/`), so it needs
//! no Node build to run and no network beyond this server: no CDN, no external fonts. Assets are
//! served under `/assets/<version>/`, the version a hash of their bytes, so they can be cached
//! for good (`immutable`); the page itself is revalidated on every load (`no-cache` + `ETag`), so
//! a new binary's page is seen at once. Every response carries a Content-Security-Policy that
//! allows this origin only, and no inline script or style.
//!
//! The page holds no secret of its own: it asks for a tenant's API key, keeps it in the tab's
//! `sessionStorage` and sends it as a bearer token (as `access_token=` to `EventSource`, which
//! cannot set headers). It is not on `metrics.listen`, which never serves the API.

use std::sync::LazyLock;

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// One compiled-in file of the page.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

const JS: &str = "text/javascript; charset=utf-8";

/// Every file under `/assets/<version>/`. A module the page imports must be listed here (a
/// test checks the imports).
const ASSETS: &[Asset] = &[
    Asset {
        name: "app.js",
        content_type: JS,
        body: include_bytes!("dashboard/app.js"),
    },
    Asset {
        name: "api.js",
        content_type: JS,
        body: include_bytes!("dashboard/api.js"),
    },
    Asset {
        name: "live.js",
        content_type: JS,
        body: include_bytes!("dashboard/live.js"),
    },
    Asset {
        name: "highlight.js",
        content_type: JS,
        body: include_bytes!("dashboard/highlight.js"),
    },
    Asset {
        name: "chart.js",
        content_type: JS,
        body: include_bytes!("dashboard/chart.js"),
    },
    Asset {
        name: "style.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("dashboard/style.css"),
    },
    Asset {
        name: "icon.svg",
        content_type: "image/svg+xml",
        body: include_bytes!("dashboard/icon.svg"),
    },
];

/// The page; `{{version}}` becomes the assets' version.
const INDEX: &str = include_str!("dashboard/index.html");

/// This origin only; no inline script or style, no frames, no plugins, no `<base>`.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
                   connect-src 'self'; form-action 'none'; base-uri 'none'; \
                   frame-ancestors 'none'";

/// The page as served, and the version its assets are served under.
struct Built {
    version: String,
    index: String,
    etag: HeaderValue,
}

static BUILT: LazyLock<Built> = LazyLock::new(|| {
    let mut hash = ring::digest::Context::new(&ring::digest::SHA256);
    hash.update(INDEX.as_bytes());
    for a in ASSETS {
        hash.update(a.name.as_bytes());
        hash.update(&(a.body.len() as u64).to_le_bytes());
        hash.update(a.body);
    }
    let version: String = hash.finish().as_ref()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let etag = HeaderValue::from_str(&format!("\"{version}\"")).expect("hex is a header value");
    Built {
        index: INDEX.replace("{{version}}", &version),
        version,
        etag,
    }
});

/// The dashboard's routes, for any state (it reads none).
pub(super) fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", get(index))
        .route("/assets/{version}/{file}", get(asset))
}

/// The headers every dashboard response carries.
fn guarded(mut r: Response, cache: &'static str) -> Response {
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // The stream URL carries the key as `access_token`: never send it on as a Referer.
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    r
}

async fn index(headers: HeaderMap) -> Response {
    let built = &*BUILT;
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .is_some_and(|v| v.as_bytes() == built.etag.as_bytes());
    let mut r = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            built.index.clone(),
        )
            .into_response()
    };
    r.headers_mut().insert(header::ETAG, built.etag.clone());
    guarded(r, "no-cache")
}

async fn asset(Path((version, file)): Path<(String, String)>) -> Response {
    let found = ASSETS.iter().find(|a| a.name == file);
    match found {
        Some(a) if version == BUILT.version => guarded(
            ([(header::CONTENT_TYPE, a.content_type)], a.body).into_response(),
            "public, max-age=31536000, immutable",
        ),
        // Another version: a page from an older binary. Not cached, so a reload finds the new one.
        _ => guarded(
            (StatusCode::NOT_FOUND, "no such asset\n").into_response(),
            "no-store",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(a: &Asset) -> &str {
        std::str::from_utf8(a.body).expect("assets are UTF-8")
    }

    #[test]
    fn every_asset_the_page_names_exists_and_is_versioned() {
        let page = &BUILT.index;
        assert!(!page.contains("{{"), "every placeholder filled");
        let prefix = format!("assets/{}/", BUILT.version);
        let mut named = 0;
        for part in page.split("\"").filter(|p| p.starts_with("assets/")) {
            let file = part
                .strip_prefix(&prefix)
                .unwrap_or_else(|| panic!("{part} is under the current version"));
            assert!(ASSETS.iter().any(|a| a.name == file), "{file} is served");
            named += 1;
        }
        assert!(named >= 3, "the page names its script, style and icon");
    }

    #[test]
    fn every_module_import_is_served() {
        for a in ASSETS.iter().filter(|a| a.name.ends_with(".js")) {
            for line in text(a).lines().filter(|l| l.starts_with("import ")) {
                let from = line
                    .split(['\'', '"'])
                    .nth(1)
                    .unwrap_or_else(|| panic!("{}: {line}", a.name));
                let file = from
                    .strip_prefix("./")
                    .unwrap_or_else(|| panic!("{}: relative imports only: {line}", a.name));
                assert!(
                    ASSETS.iter().any(|b| b.name == file),
                    "{} imports {file}, which is not served",
                    a.name
                );
            }
        }
    }

    #[test]
    fn nothing_is_loaded_from_elsewhere_and_nothing_is_inline() {
        let svg_ns = "http://www.w3.org/2000/svg";
        for (name, body) in ASSETS
            .iter()
            .map(|a| (a.name, text(a)))
            .chain([("index.html", INDEX)])
        {
            let rest = body.replace(svg_ns, "");
            for bad in ["http://", "https://", "//fonts.", "@import", "innerHTML"] {
                assert!(!rest.contains(bad), "{name} contains {bad:?}");
            }
        }
        // The CSP forbids inline script and style: the page must not need them.
        for bad in ["<script>", "style=", "javascript:"] {
            assert!(!INDEX.contains(bad), "index.html has inline {bad:?}");
        }
        // No inline event handler (` onclick=` and the like).
        for (i, _) in INDEX.match_indices(" on") {
            let attr: String = INDEX[i + 1..]
                .chars()
                .take_while(|c| c.is_ascii_lowercase())
                .collect();
            let after = &INDEX[i + 1 + attr.len()..];
            assert!(
                !after.starts_with('='),
                "index.html has an inline handler {attr}"
            );
        }
    }
}
