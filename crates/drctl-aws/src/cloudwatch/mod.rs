//! CloudWatch: the alarms.

pub mod alarm;
