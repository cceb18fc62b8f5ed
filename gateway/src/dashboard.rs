//! The directorate's read-only dashboard: plain HTML pages over HTTP/1.1
//! with the same tables the exports give (every figure through
//! [`merge::view`], so the protection across levels and revisions holds
//! here too) and the completeness list of a period.
//!
//! Pages: `/` lists the periods with reports; `/period/P` shows who has
//! reported and the national tables; `/period/P/region/R` a region's
//! tables. Nothing is written; there is no sign-in, so bind it to loopback
//! or put it behind the directorate's own authenticating proxy.

use std::fmt::Write as _;
use std::sync::Arc;

use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use prikk_privacy::Definition;
use tokio::net::TcpListener;

use crate::clock::format_unix;
use crate::export::{LEGEND, grid};
use crate::http::{Body, response};
use crate::merge::{self, MergedTable, Scope};
use crate::period::Period;
use crate::store::{Completeness, Store, StoreError};

/// What the pages read from.
#[derive(Debug)]
pub struct Dashboard {
    store: Arc<Store>,
    definition: Arc<Definition>,
    min_count: u32,
}

impl Dashboard {
    /// A dashboard over a store, with the definition and national threshold
    /// the exports use.
    pub fn new(store: Arc<Store>, definition: Arc<Definition>, min_count: u32) -> Self {
        Self {
            store,
            definition,
            min_count,
        }
    }

    /// The page for `path` (GET), as a status and an HTML body.
    pub fn page(&self, path: &str) -> (StatusCode, String) {
        let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
        let result = match parts.as_slice() {
            [""] => self.index().map(|b| (StatusCode::OK, b)),
            ["period", p] => self.period_page(p, None),
            ["period", p, "region", r] => self.period_page(p, Some(r)),
            _ => Ok((
                StatusCode::NOT_FOUND,
                page("Not found", "<p>No such page.</p>"),
            )),
        };
        result.unwrap_or_else(|e| {
            tracing::error!(error = %e, path, "dashboard page failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                page(
                    "Error",
                    "<p>The store could not be read; see the gateway's log.</p>",
                ),
            )
        })
    }

    fn index(&self) -> Result<String, StoreError> {
        let periods = self.store.periods()?;
        let mut body = String::from("<h2>Periods with reports</h2>\n");
        if periods.is_empty() {
            body.push_str("<p>No report has been stored yet.</p>\n");
        } else {
            body.push_str(
                "<table>\n<tr><th>period</th><th>project reports (latest revisions)</th></tr>\n",
            );
            for (period, n) in periods {
                let _ = writeln!(
                    body,
                    "<tr><td><a href=\"/period/{p}\">{p}</a></td><td class=\"n\">{n}</td></tr>",
                    p = escape(&period)
                );
            }
            body.push_str("</table>\n");
        }
        Ok(page(&self.definition.title, &body))
    }

    fn period_page(
        &self,
        period: &str,
        region: Option<&str>,
    ) -> Result<(StatusCode, String), StoreError> {
        let Ok(period) = Period::parse(period).map(|p| p.to_string()) else {
            return Ok((
                StatusCode::BAD_REQUEST,
                page(
                    "Not a period",
                    "<p>Periods are written YYYY, YYYY-H1/H2, YYYY-Q1..Q4 or YYYY-MM.</p>",
                ),
            ));
        };
        let rows = self.store.completeness(&period)?;
        let regions: std::collections::BTreeSet<&str> =
            rows.iter().map(|r| r.project.region.as_str()).collect();
        if let Some(r) = region
            && !regions.contains(r)
        {
            return Ok((
                StatusCode::NOT_FOUND,
                page(
                    "Not found",
                    "<p>No registered project is in that region.</p>",
                ),
            ));
        }
        let scope = match region {
            Some(r) => Scope::Region(r.to_string()),
            None => Scope::National,
        };
        let scope_name = region.unwrap_or("Norway");
        let mut body = String::new();
        let _ = write!(
            body,
            "<p><a href=\"/\">periods</a> · national: <a href=\"/period/{p}\">{p}</a> · regions:",
            p = escape(&period)
        );
        for r in &regions {
            let _ = write!(
                body,
                " <a href=\"/period/{p}/region/{re}\">{re}</a>",
                p = escape(&period),
                re = escape(r)
            );
        }
        body.push_str("</p>\n");
        let shown: Vec<&Completeness> = rows
            .iter()
            .filter(|r| region.is_none_or(|g| r.project.region == g))
            .collect();
        completeness_html(&mut body, &shown);
        match merge::view(
            &self.store,
            &self.definition,
            &period,
            &scope,
            self.min_count,
        )? {
            Some(view) => {
                let _ = writeln!(
                    body,
                    "<h2>Tables</h2>\n<p>{}</p>",
                    escape(&merge::heading(
                        &view.source,
                        view.reports,
                        scope_name,
                        &period
                    ))
                );
                for t in &view.tables {
                    table_html(&mut body, t);
                }
                legend_html(&mut body);
            }
            None => body.push_str("<p>No tables.</p>\n"),
        }
        Ok((
            StatusCode::OK,
            page(&format!("{scope_name}, {period}"), &body),
        ))
    }
}

fn completeness_html(body: &mut String, rows: &[&Completeness]) {
    let reported = rows.iter().filter(|r| r.latest.is_some()).count();
    let _ = writeln!(
        body,
        "<h2>Completeness</h2>\n<p>{reported} of {} registered projects reported.</p>",
        rows.len()
    );
    body.push_str("<table>\n<tr><th>project</th><th>name</th><th>region</th><th>status</th><th>revision</th><th>accepted</th><th>collected</th><th>report</th></tr>\n");
    for r in rows {
        let p = &r.project;
        let collected = crate::completeness::collected_text(r);
        let (status, revision, accepted, report) = match &r.latest {
            Some(l) => (
                "reported",
                l.revision.to_string(),
                format_unix(l.accepted_unix),
                l.report_id.clone(),
            ),
            None => ("missing", "-".into(), "-".into(), "-".into()),
        };
        let _ = writeln!(
            body,
            "<tr class=\"{status}\"><td>{}</td><td>{}</td><td>{}</td><td>{status}</td><td class=\"n\">{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&p.id),
            escape(&p.name),
            escape(&p.region),
            revision,
            escape(&accepted),
            escape(&collected),
            escape(&report)
        );
    }
    body.push_str("</table>\n");
}

fn table_html(body: &mut String, t: &MergedTable) {
    let _ = writeln!(
        body,
        "<h3 id=\"{id}\">{title} <small>({id})</small></h3>",
        id = escape(&t.shape.id),
        title = escape(&t.title)
    );
    body.push_str("<table class=\"grid\">\n");
    for (r, row) in grid(t).iter().enumerate() {
        body.push_str("<tr>");
        for (c, cell) in row.iter().enumerate() {
            let (open, close) = if r == 0 || c == 0 {
                ("<th>", "</th>")
            } else {
                ("<td class=\"n\">", "</td>")
            };
            let _ = write!(body, "{open}{}{close}", escape(cell));
        }
        body.push_str("</tr>\n");
    }
    body.push_str("</table>\n");
}

fn legend_html(body: &mut String) {
    body.push_str("<h2>Symbols</h2>\n<table>\n");
    for (sym, meaning) in LEGEND {
        let _ = writeln!(
            body,
            "<tr><td>{}</td><td>{}</td></tr>",
            escape(sym),
            escape(meaning)
        );
    }
    body.push_str("</table>\n");
}

/// A whole page around `body`.
fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{t} · prikk</title>\n<style>\nbody{{font-family:sans-serif;margin:2em;}}table{{border-collapse:collapse;margin-bottom:1.5em;}}th,td{{border:1px solid #bbb;padding:2px 8px;}}th{{background:#eee;text-align:left;}}td.n{{text-align:right;font-variant-numeric:tabular-nums;}}tr.missing td{{color:#a00;}}\n</style>\n</head>\n<body>\n<h1>{t}</h1>\n{body}</body>\n</html>\n",
        t = escape(title)
    )
}

/// Text for HTML element content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

async fn respond(dashboard: Arc<Dashboard>, req: Request<Incoming>) -> Response<Body> {
    const HTML: &str = "text/html; charset=utf-8";
    if req.method() != Method::GET {
        let mut r = response(
            StatusCode::METHOD_NOT_ALLOWED,
            HTML,
            page("Read only", "<p>The dashboard only answers GET.</p>"),
        );
        r.headers_mut().insert(
            hyper::header::ALLOW,
            hyper::header::HeaderValue::from_static("GET"),
        );
        return r;
    }
    let path = req.uri().path().to_string();
    // SQLite reads and merges are blocking work.
    match tokio::task::spawn_blocking(move || dashboard.page(&path)).await {
        Ok((status, body)) => response(status, HTML, body),
        Err(_) => response(
            StatusCode::INTERNAL_SERVER_ERROR,
            HTML,
            page("Error", "<p>The page could not be made.</p>"),
        ),
    }
}

/// Serves the dashboard on `listener` until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    dashboard: Arc<Dashboard>,
    shutdown: impl std::future::Future<Output = ()>,
) {
    crate::http::serve(
        listener,
        move |req| respond(dashboard.clone(), req),
        shutdown,
    )
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_covers_markup_and_quotes() {
        assert_eq!(
            escape("<a href=\"x\">O'Neil & co</a>"),
            "&lt;a href=&quot;x&quot;&gt;O&#39;Neil &amp; co&lt;/a&gt;"
        );
    }
}
