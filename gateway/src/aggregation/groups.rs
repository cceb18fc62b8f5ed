//! Region groups of a collection: every group has at least the minimum of
//! projects the helper sums, so small regions are merged.

use std::collections::BTreeMap;

/// One region group of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    /// `oslo`, or merged regions joined by `+` (`agder+rogaland`).
    pub code: String,
    /// The regions in it.
    pub regions: Vec<String>,
    /// Distinct projects in it.
    pub projects: usize,
}

/// Region groups from the projects per region: a region with at least
/// `min` projects is its own group; the smaller ones are merged into one
/// group, and that group into the smallest full one when it is still too
/// small. `None` when all projects together are fewer than `min`.
pub fn plan_groups(per_region: &BTreeMap<String, usize>, min: usize) -> Option<Vec<Group>> {
    let total: usize = per_region.values().sum();
    if total < min.max(1) {
        return None;
    }
    let mut groups: Vec<Group> = Vec::new();
    let mut small = Group {
        code: String::new(),
        regions: Vec::new(),
        projects: 0,
    };
    for (region, &n) in per_region {
        if n >= min {
            groups.push(Group {
                code: region.clone(),
                regions: vec![region.clone()],
                projects: n,
            });
        } else if n > 0 {
            small.regions.push(region.clone());
            small.projects += n;
        }
    }
    if !small.regions.is_empty() {
        if small.projects >= min || groups.is_empty() {
            groups.push(small);
        } else if let Some(target) = groups
            .iter_mut()
            .min_by_key(|g| (g.projects, g.code.clone()))
        {
            target.regions.extend(small.regions);
            target.projects += small.projects;
        }
    }
    for g in &mut groups {
        g.regions.sort();
        g.code = g.regions.join("+");
    }
    groups.sort_by(|a, b| a.code.cmp(&b.code));
    Some(groups)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn regions(pairs: &[(&str, usize)]) -> BTreeMap<String, usize> {
        pairs.iter().map(|(r, n)| (r.to_string(), *n)).collect()
    }

    #[test]
    fn small_regions_are_merged_and_every_group_reaches_the_minimum() {
        let g = plan_groups(
            &regions(&[("oslo", 12), ("vestland", 5), ("agder", 2), ("viken", 3)]),
            5,
        )
        .unwrap();
        let codes: Vec<&str> = g.iter().map(|g| g.code.as_str()).collect();
        assert_eq!(codes, ["agder+viken", "oslo", "vestland"]);
        assert!(g.iter().all(|g| g.projects >= 5));
        // The small ones together are still too few: into the smallest full group.
        let g = plan_groups(&regions(&[("oslo", 12), ("vestland", 6), ("agder", 2)]), 5).unwrap();
        let codes: Vec<&str> = g.iter().map(|g| g.code.as_str()).collect();
        assert_eq!(codes, ["agder+vestland", "oslo"]);
        assert_eq!(g.iter().map(|g| g.projects).sum::<usize>(), 20);
        // Only small regions: one group when enough together, none otherwise.
        let g = plan_groups(&regions(&[("a", 2), ("b", 3)]), 5).unwrap();
        assert_eq!(g.len(), 1);
        assert_eq!(g[0].code, "a+b");
        assert!(plan_groups(&regions(&[("a", 2), ("b", 2)]), 5).is_none());
    }
}
