//! Route 53: the hosted zone, health checks and failover records (a global service).

pub mod failover_records;
pub mod health_check;
pub mod hosted_zone;
