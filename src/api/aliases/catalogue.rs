//! The program catalogue: `catalogue/programs.json`, a versioned data file in the repository. It lists
//! the programs the edge proxy serves (the kit programs get a kit URL on every container with the
//! Hoody Kit) and the names no alias may take.

use std::sync::LazyLock;

use serde::Deserialize;

#[derive(Debug, Deserialize)]
pub struct Program {
    pub name: String,
    /// Served on every container with the Hoody Kit (a kit URL).
    pub kit: bool,
    #[allow(dead_code)]
    pub description: String,
}

#[derive(Debug, Deserialize)]
pub struct Catalogue {
    pub version: u32,
    pub programs: Vec<Program>,
    pub reserved_aliases: Vec<String>,
}

static CATALOGUE: LazyLock<Catalogue> = LazyLock::new(|| {
    #[allow(clippy::expect_used)]
    serde_json::from_str(include_str!("../../../catalogue/programs.json"))
        .expect("catalogue/programs.json parses (unit-tested)")
});

pub fn get() -> &'static Catalogue {
    &CATALOGUE
}

impl Catalogue {
    /// The program named `name`, if the catalogue has it.
    pub fn program(&self, name: &str) -> Option<&Program> {
        self.programs.iter().find(|p| p.name == name)
    }

    /// The kit programs, in the catalogue's order.
    pub fn kits(&self) -> impl Iterator<Item = &Program> {
        self.programs.iter().filter(|p| p.kit)
    }

    /// Whether no alias may be called `name`: a listed name, or one shaped like a kit host label
    /// (`{projectId}-{containerId}-…`), which would stand in for another container's kit URL.
    pub fn reserved(&self, name: &str) -> bool {
        let kit_shaped = name.get(..24).is_some_and(crate::db::is_id)
            && name.get(24..25) == Some("-")
            && name.get(25..49).is_some_and(crate::db::is_id);
        kit_shaped || self.reserved_aliases.iter().any(|r| r == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_data_file_parses_and_holds_unique_names() {
        let c = get();
        assert!(c.version >= 1);
        assert!(c.kits().count() >= 5);
        let mut names: Vec<&str> = c.programs.iter().map(|p| p.name.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), c.programs.len(), "program names are unique");
        for name in names {
            assert!(name.bytes().all(|b| b.is_ascii_lowercase() || b == b'-'), "{name}");
        }
        assert!(c.program("exec").is_some() && c.program("http").is_some() && c.program("nope").is_none());
    }

    #[test]
    fn listed_and_kit_shaped_names_are_reserved() {
        let c = get();
        assert!(c.reserved("api") && c.reserved("www"));
        assert!(!c.reserved("my-app"));
        let kit = format!("{}-{}-terminal-1", "a".repeat(24), "b".repeat(24));
        assert!(c.reserved(&kit));
        assert!(c.reserved(&format!("{}-{}", "0".repeat(24), "1".repeat(24))));
        assert!(!c.reserved(&"ab".repeat(24)), "a generated 48-hex name is not");
    }
}
