//! placeholder for the loom model of M park/wake; written by the loom work.
