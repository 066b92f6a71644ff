//! DynamoDB: the table and its replica in the DR region (global table v2019).

pub mod replica;
pub mod table;
