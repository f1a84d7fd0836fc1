//! The area a member of staff acts for: a county or one town in it, by division code.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A county (6-digit administrative division code, such as `412824`) or a town within it
/// (9 digits: the county's code and the town's three, such as `412824101`). A county scope
/// covers every town of the county.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Scope(String);

/// Why a scope is not a division code.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("scope must be a 6-digit county or 9-digit town division code, got {0:?}")]
pub struct ScopeError(pub String);

impl Scope {
    /// Checks `code`: 6 or 9 half-width digits.
    pub fn parse(code: &str) -> Result<Self, ScopeError> {
        let code = code.trim();
        let digits = code.bytes().all(|b| b.is_ascii_digit());
        if digits && matches!(code.len(), 6 | 9) {
            Ok(Self(code.to_owned()))
        } else {
            Err(ScopeError(code.to_owned()))
        }
    }

    /// The code.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether this is a whole county.
    pub fn is_county(&self) -> bool {
        self.0.len() == 6
    }

    /// Whether the area `code` (a town, or a county) lies within this scope.
    pub fn covers(&self, code: &str) -> bool {
        code.starts_with(&self.0)
    }

    /// Whether this scope lies in the county `county`: the county itself or one of its towns.
    pub fn is_within(&self, county: &str) -> bool {
        self.0.starts_with(county)
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for Scope {
    type Error = ScopeError;

    fn try_from(code: String) -> Result<Self, ScopeError> {
        Self::parse(&code)
    }
}

impl From<Scope> for String {
    fn from(scope: Scope) -> String {
        scope.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_county_covers_its_towns_and_a_town_only_itself() {
        let county = Scope::parse("412824").unwrap();
        let town = Scope::parse("412824101").unwrap();
        assert!(county.is_county() && !town.is_county());
        assert!(county.covers("412824101") && county.covers("412824102"));
        assert!(town.covers("412824101") && !town.covers("412824102"));
        assert!(!town.covers("412824"), "a town does not cover its county");
        assert!(town.is_within("412824") && !town.is_within("412825"));
    }

    #[test]
    fn only_division_codes_are_scopes() {
        for bad in [
            "",
            "41282",
            "4128241",
            "41282410a",
            "４１２８２４",
            "412824101x",
        ] {
            assert!(Scope::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(Scope::parse(" 412824 ").unwrap().as_str(), "412824");
    }
}
