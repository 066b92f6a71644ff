//! RDS: the DB subnet group and the DB instance (primary and cross-region replica).

pub mod db_instance;
pub mod db_subnet_group;
