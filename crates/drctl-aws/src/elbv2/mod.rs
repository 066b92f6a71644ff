//! Elastic Load Balancing v2: the application load balancer, its target group and listener.

pub mod listener;
pub mod load_balancer;
pub mod target_group;
