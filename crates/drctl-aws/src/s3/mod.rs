//! S3: the buckets and their cross-region replication.

pub mod bucket;
pub mod replication;
