//! Placeholder until the geography module lands.
#![allow(missing_docs)]
use std::sync::Arc;

use crate::audit::AuditReport;
use crate::protect::{Policy, ProtectError};
use crate::table::{Table, TableShape};

pub struct RegionGroup {
    pub code: String,
    pub tables: Vec<Table>,
}
#[derive(Debug, Clone, Copy, Default)]
pub struct Counts {
    pub primary: usize,
    pub secondary: usize,
    pub suppressed_cells: usize,
}
pub struct GeographyProtection {
    pub nation: Vec<Table>,
    pub nation_suppressed: Vec<Vec<bool>>,
    pub groups_suppressed: Vec<Vec<Vec<bool>>>,
    pub regions_withheld: bool,
    pub national_alone: Counts,
    pub joint: Counts,
    pub audit: AuditReport,
}
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GeographyError {
    #[error("shape")]
    Shape,
    #[error("margins {0}")]
    Margins(String),
    #[error("overflow")]
    Overflow,
    #[error(transparent)]
    Protect(#[from] ProtectError),
}
impl std::fmt::Debug for RegionGroup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.code)
    }
}
pub fn protect_geography(
    _shapes: &[Arc<TableShape>],
    groups: &[RegionGroup],
    policy: &Policy,
) -> Result<GeographyProtection, GeographyError> {
    let first = groups.first().ok_or(GeographyError::Shape)?;
    let mut nation = first.tables.clone();
    for g in &groups[1..] {
        for (n, t) in nation.iter_mut().zip(&g.tables) {
            for (a, b) in n.values.iter_mut().zip(&t.values) {
                *a = a.checked_add(*b).ok_or(GeographyError::Overflow)?;
            }
            for (a, b) in n.contributors.iter_mut().zip(&t.contributors) {
                *a = a.checked_add(*b).ok_or(GeographyError::Overflow)?;
            }
        }
    }
    let p = crate::protect::protect(&nation, policy)?;
    let counts = Counts {
        primary: p.primary_count,
        secondary: p.secondary_count,
        suppressed_cells: p.suppressed.iter().flatten().filter(|&&b| b).count(),
    };
    Ok(GeographyProtection {
        groups_suppressed: groups
            .iter()
            .map(|g| g.tables.iter().map(|t| vec![true; t.values.len()]).collect())
            .collect(),
        nation,
        nation_suppressed: p.suppressed,
        regions_withheld: true,
        national_alone: counts,
        joint: counts,
        audit: p.audit,
    })
}

pub struct LeaderKnowledge {
    pub derived_nonzero: Vec<(String, String, Vec<String>)>,
    pub zero_pinned: usize,
    pub hidden_cells: usize,
}
pub fn leader_knowledge_audit(
    _shapes: &[Arc<TableShape>],
    _projects: &[(String, Vec<Table>)],
    _policy: &Policy,
) -> Result<LeaderKnowledge, GeographyError> {
    Err(GeographyError::Shape)
}
