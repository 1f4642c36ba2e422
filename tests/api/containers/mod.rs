//! The `containers` and `env` tags, file by file.

mod runner;
