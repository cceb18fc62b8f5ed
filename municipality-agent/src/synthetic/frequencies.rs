//! The frequencies the generator draws from: the IMDi report's tables 1
//! and 3, and plausible spreads for the other allowlisted columns.

use crate::tabulate::STATUS_LEAVES;

/// Table 3 of the 2007 report: referred people per status leaf (938 in all).
pub const TABLE_3: [u32; STATUS_LEAVES.len()] = [
    391, 48, 7, // active, work or education, other discharge
    6, 9, 8, 5, 20, 18, // terminated: birth, absence, moved, elsewhere, not feasible, other
    1,  // missing data
    63, // assessing
    92, 36, 20, 30, 29, 15, 7, 4, 7, 5, 117, // not admitted
];

/// Countries of birth, table 1 (top ten per gender) plus a spread of others.
pub(super) const COUNTRIES_F: &[(&str, u32)] = &[
    ("IQ", 77),
    ("SO", 49),
    ("IR", 22),
    ("TR", 18),
    ("PK", 15),
    ("AF", 13),
    ("VN", 7),
    ("LB", 6),
    ("MA", 6),
    ("RS", 6),
    ("BA", 4),
    ("NO", 3),
    ("ER", 6),
    ("ET", 6),
    ("LK", 5),
    ("CL", 4),
    ("PS", 4),
    ("SY", 3),
    ("RU", 3),
    ("KE", 2),
    ("GM", 2),
    ("PH", 3),
    ("CN", 2),
    ("DZ", 2),
    ("IN", 3),
];
pub(super) const COUNTRIES_M: &[(&str, u32)] = &[
    ("IQ", 72),
    ("SO", 50),
    ("AF", 13),
    ("IR", 13),
    ("TR", 11),
    ("NO", 7),
    ("VN", 7),
    ("BA", 5),
    ("MA", 5),
    ("PK", 4),
    ("LB", 3),
    ("RS", 3),
    ("ER", 5),
    ("ET", 5),
    ("SD", 4),
    ("LK", 3),
    ("PS", 4),
    ("SY", 3),
    ("DZ", 3),
    ("GM", 2),
    ("CL", 2),
    ("IN", 2),
];

pub(super) const REFERRAL: &[(&str, &str, u32)] = &[
    ("social_services", "sosialtjenesten", 62),
    ("nav", "nav", 18),
    ("self", "selv", 5),
    ("adult_education", "voksenopplæringen", 10),
    ("other", "annet", 5),
];
pub(super) const RESIDENCE: &[(&str, &str, u32)] = &[
    ("asylum", "asyl", 34),
    ("humanitarian", "humanitært", 26),
    ("resettlement", "overføringsflyktning", 15),
    ("family_refugee", "familiegjenforent_med_flyktning", 9),
    ("family_other", "familiegjenforent_annet", 9),
    ("work", "arbeid", 2),
    ("other", "annet", 5),
];
pub(super) const MARITAL: &[(&str, &str, u32)] = &[
    ("married", "gift", 57),
    ("divorced", "skilt", 24),
    ("single", "enslig", 15),
    ("widowed", "enke", 3),
    ("cohabiting", "samboer", 1),
];
pub(super) const EDU_NO: &[(&str, &str, u32)] = &[
    ("none", "ingen", 48),
    ("primary", "grunnskole", 22),
    ("upper_secondary_courses", "videregående_kurs", 15),
    ("upper_secondary", "videregående", 10),
    ("higher", "høyere", 5),
];
pub(super) const FOLLOW_UP: &[(&str, &str, u32)] = &[
    ("yes", "ja", 70),
    ("no", "nei", 20),
    ("declined", "avslått", 10),
];
pub(super) const PRIOR: &[&str] = &[
    "norwegian_training",
    "vocational_course",
    "nav_measure",
    "job_seeking_course",
    "work_practice",
    "education",
];
pub(super) const PROGRAMME: &[&str] = &[
    "norwegian_ordinary",
    "norwegian_vocational",
    "norwegian_ict",
    "ambulant_teacher",
    "language_practice",
    "dialogue_group",
    "job_seeking_cv",
    "work_practice_municipal",
    "work_practice_nav",
    "vocational_course",
    "wage_subsidy",
    "motivation_course",
    "theme_meetings",
    "competence_assessment",
    "physical_training",
    "other",
];
pub(super) const OUTCOMES: [&str; 8] = [
    "work_or_education",
    "other_discharge",
    "birth",
    "invalid_absence",
    "moved",
    "referred_elsewhere",
    "full_time_not_feasible",
    "other_termination",
];
pub(super) const REASONS: [&str; 11] = [
    "other_measure",
    "work_or_education",
    "self_supporting",
    "no_show",
    "moved",
    "no_childcare",
    "disability_pension",
    "residence_under_2y",
    "assistance_under_6m",
    "no_need",
    "other",
];
