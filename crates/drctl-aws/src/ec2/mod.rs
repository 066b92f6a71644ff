//! EC2: the network (VPC, subnets, gateways, routes, security groups) and launch templates.

pub mod eip;
pub mod igw_attachment;
pub mod internet_gateway;
pub mod launch_template;
pub(crate) mod lookup;
pub mod nat_gateway;
pub mod route_table;
pub mod route_table_association;
pub mod security_group;
pub mod subnet;
pub mod vpc;
