//! [`Sealed`]: a text column sealed on its way into the database and opened on its way out.

use std::fmt;

use sea_orm::sea_query::{ArrayType, ColumnType, Nullable, Value, ValueType, ValueTypeErr};
use sea_orm::{ColIdx, DbErr, QueryResult, TryGetError, TryGetable};

use crate::keys;

/// Text that is personal data: plain in memory, sealed with the process's data key in the
/// database (a `Text` column). `Debug` never shows it.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Sealed(String);

impl Sealed {
    /// Wraps `text`; it is sealed when written.
    pub fn new(text: impl Into<String>) -> Self {
        Self(text.into())
    }

    /// The plain text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The plain text, owned.
    pub fn into_inner(self) -> String {
        self.0
    }
}

impl From<String> for Sealed {
    fn from(text: String) -> Self {
        Self(text)
    }
}

impl From<&str> for Sealed {
    fn from(text: &str) -> Self {
        Self(text.to_owned())
    }
}

impl std::ops::Deref for Sealed {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Sealed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sealed({} characters)", self.0.chars().count())
    }
}

impl From<Sealed> for Value {
    fn from(sealed: Sealed) -> Value {
        Value::String(Some(keys().seal(&sealed.0)))
    }
}

impl Nullable for Sealed {
    fn null() -> Value {
        Value::String(None)
    }
}

impl ValueType for Sealed {
    fn try_from(value: Value) -> Result<Self, ValueTypeErr> {
        match value {
            Value::String(Some(stored)) => keys().open(&stored).map(Sealed).map_err(|error| {
                tracing::error!(%error, "a sealed column could not be opened");
                ValueTypeErr
            }),
            _ => Err(ValueTypeErr),
        }
    }

    fn type_name() -> String {
        "Sealed".to_owned()
    }

    fn array_type() -> ArrayType {
        ArrayType::String
    }

    fn column_type() -> ColumnType {
        ColumnType::Text
    }
}

impl TryGetable for Sealed {
    fn try_get_by<I: ColIdx>(result: &QueryResult, index: I) -> Result<Self, TryGetError> {
        let stored = String::try_get_by(result, index)?;
        keys()
            .open(&stored)
            .map(Sealed)
            .map_err(|error| TryGetError::DbErr(DbErr::Type(format!("{error:#}"))))
    }
}
