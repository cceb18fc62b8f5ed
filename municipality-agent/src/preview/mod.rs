//! The preview for the data protection officer: exactly what would leave the
//! municipality, as text, JSON or one self-contained HTML page.
//!
//! The tables are rendered from the wire report itself, so what is shown is
//! what would be signed: a suppressed cell is `:` (Statistics Norway's symbol
//! for "not shown for confidentiality"), and nothing says whether a
//! suppression is primary or secondary.
//!
//! The JSON form is one object:
//!
//! ```text
//! { "report_id": "<32 hex>", "payload_sha256": "<64 hex>", "created_unix": n,
//!   "project": "..", "period": "..", "definition": {"id": "..", "version": n},
//!   "policy": {"method", "min_count", "protect_zeros", "min_interval_width", "singletons"},
//!   "input": {"file", "decoding", "delimiter", "rows_read", "rows_accepted",
//!             "rows_rejected", "rows_other_projects", "absent_columns": [..]},
//!   "dropped_columns": ["name", ...],
//!   "rejected_rows": [{"line": 7, "column": "gender", "reason": ".."}],
//!   "suppression": {"primary": n, "secondary": n, "published_cells": n, "cells": n,
//!                   "nonzero_cells": n, "published_nonzero_cells": n, "note": null | "..."},
//!   "audit": {"passed", "narrowest_interval", "suppressed_quantities", "intervals_computed", "failures"},
//!   "tables": [{"id", "title", "dimensions": ["status", "gender"], "measure": "count" | "sum:<column>",
//!               "cells": [{"key": {"status": "admitted", "gender": "total"}, "value": 513},
//!                         {"key": {"status": "assessing", "gender": "male"}, "suppressed": true},
//!                         {"key": {"gender": "female"}, "value": 538, "contributors": 214}]}] }
//! ```
//!
//! Margins use the category `total`; `contributors` appears only on
//! published cells of sum tables.
//!
//! In the dp modes (`policy.method` is `dp` or `dp+suppression`) values are
//! noisy signed integers, and a top-level `"dp"` object adds the loss, each
//! table's public mechanism and scale, and the project's budget:
//! `{"loss": "ε = 0.5", "unit": "epsilon", "amount": "0.5", "tables": [{"id",
//! "mechanism", "scale", "contributors_scale"?, "loss"}], "budget": {"year",
//! "annual", "spent", "remaining", "remaining_after", "releases"} | null}`.
//! The noise is drawn afresh for every preview and every submission: a
//! preview shows one draw, not the one that will be sent.
//!
//! `model` builds the document from the prepared report; `text` and `html`
//! render it, sharing the wording and the table layout of `layout`; the JSON
//! form is the model serialized.

mod html;
mod layout;
mod model;
mod text;

pub use html::{escape, to_html};
pub use model::*;
pub use text::to_text;

/// Rejected-row problems listed in the text and HTML forms; JSON lists all.
pub const LISTED_REJECTIONS: usize = 1000;

/// The JSON form.
pub fn to_json(p: &Preview) -> String {
    // Serializing plain structs of strings and integers cannot fail.
    serde_json::to_string_pretty(p).unwrap_or_default()
}
