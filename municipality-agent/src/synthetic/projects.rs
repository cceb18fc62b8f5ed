//! The 21 projects of the 2005-2006 Ny sjanse trial.

/// A project of the 2005-2006 Ny sjanse trial.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Project {
    /// Project id (ASCII slug).
    pub id: &'static str,
    /// Name of the municipality or Oslo district.
    pub name: &'static str,
    /// Region: `oslo` for Oslo districts, otherwise the county.
    pub region: &'static str,
}

/// The 21 projects of 2005-2006: nine municipalities and twelve Oslo districts.
pub const PROJECTS: [Project; 21] = [
    Project {
        id: "bergen",
        name: "Bergen",
        region: "vestland",
    },
    Project {
        id: "baerum",
        name: "Bærum",
        region: "akershus",
    },
    Project {
        id: "drammen",
        name: "Drammen",
        region: "buskerud",
    },
    Project {
        id: "eidsberg",
        name: "Eidsberg",
        region: "ostfold",
    },
    Project {
        id: "fredrikstad",
        name: "Fredrikstad",
        region: "ostfold",
    },
    Project {
        id: "kristiansand",
        name: "Kristiansand",
        region: "agder",
    },
    Project {
        id: "moss",
        name: "Moss",
        region: "ostfold",
    },
    Project {
        id: "skien",
        name: "Skien",
        region: "telemark",
    },
    Project {
        id: "trondheim",
        name: "Trondheim",
        region: "trondelag",
    },
    Project {
        id: "oslo-alna",
        name: "Oslo Alna",
        region: "oslo",
    },
    Project {
        id: "oslo-bjerke",
        name: "Oslo Bjerke",
        region: "oslo",
    },
    Project {
        id: "oslo-frogner",
        name: "Oslo Frogner",
        region: "oslo",
    },
    Project {
        id: "oslo-gamle-oslo",
        name: "Oslo Gamle Oslo",
        region: "oslo",
    },
    Project {
        id: "oslo-grorud",
        name: "Oslo Grorud",
        region: "oslo",
    },
    Project {
        id: "oslo-grunerlokka",
        name: "Oslo Grünerløkka",
        region: "oslo",
    },
    Project {
        id: "oslo-nordstrand",
        name: "Oslo Nordstrand",
        region: "oslo",
    },
    Project {
        id: "oslo-sagene",
        name: "Oslo Sagene",
        region: "oslo",
    },
    Project {
        id: "oslo-st-hanshaugen",
        name: "Oslo St. Hanshaugen",
        region: "oslo",
    },
    Project {
        id: "oslo-stovner",
        name: "Oslo Stovner",
        region: "oslo",
    },
    Project {
        id: "oslo-sondre-nordstrand",
        name: "Oslo Søndre Nordstrand",
        region: "oslo",
    },
    Project {
        id: "oslo-ostensjo",
        name: "Oslo Østensjø",
        region: "oslo",
    },
];

/// The project with this id.
pub fn project(id: &str) -> Option<&'static Project> {
    PROJECTS.iter().find(|p| p.id == id)
}
