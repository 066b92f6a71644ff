//! The stack as one directed acyclic graph (both regions, global services
//! included). An edge `a -> b` means `b` depends on `a`: `a` is created first
//! and deleted last.

use crate::model::{Address, ResourceSpec};
use petgraph::algo::{tarjan_scc, toposort};
use petgraph::graph::{DiGraph, NodeIndex};
use std::collections::BTreeMap;
use thiserror::Error;

#[derive(Debug, Error, PartialEq)]
/// Why a set of specs is not a valid stack; each names the addresses to fix
/// (a blueprint bug, never the user's plan file).
pub enum GraphError {
    #[error("two resources share the address {0}")]
    /// Two specs have the same address.
    DuplicateAddress(Address),
    #[error("{from} depends on {to}, which is not part of the stack")]
    /// A spec references or depends on an address that no spec has: `from`
    /// needs `to`.
    MissingDependency {
        /// The spec that needs it.
        from: Address,
        /// The address no spec has.
        to: Address,
    },
    #[error("dependency cycle: {}", .0.iter().map(|a| a.to_string()).collect::<Vec<_>>().join(" -> "))]
    /// Dependencies that go round; the addresses of one cycle, sorted.
    Cycle(Vec<Address>),
}

/// The desired stack, validated: unique addresses, known dependencies, no cycle.
#[derive(Debug, Clone)]
pub struct StackGraph {
    graph: DiGraph<ResourceSpec, ()>,
    index: BTreeMap<Address, NodeIndex>,
    /// Nodes in a dependency-respecting order.
    order: Vec<NodeIndex>,
}

impl StackGraph {
    /// Builds the graph from `specs`: one node per address, an edge from each
    /// dependency ([`ResourceSpec::dependencies`]) to its dependent.
    ///
    /// # Errors
    /// [`GraphError`]: the first duplicate address, the first dependency that is
    /// not in `specs`, or one cycle.
    pub fn build(specs: Vec<ResourceSpec>) -> Result<Self, GraphError> {
        let mut graph = DiGraph::new();
        let mut index = BTreeMap::new();
        for spec in specs {
            let addr = spec.address.clone();
            let ix = graph.add_node(spec);
            if index.insert(addr.clone(), ix).is_some() {
                return Err(GraphError::DuplicateAddress(addr));
            }
        }
        let nodes: Vec<NodeIndex> = graph.node_indices().collect();
        for ix in nodes {
            for dep in graph[ix].dependencies() {
                let Some(&from) = index.get(&dep) else {
                    return Err(GraphError::MissingDependency {
                        from: graph[ix].address.clone(),
                        to: dep,
                    });
                };
                graph.add_edge(from, ix, ());
            }
        }
        let order = toposort(&graph, None).map_err(|_| {
            let cycle = tarjan_scc(&graph)
                .into_iter()
                .find(|scc| scc.len() > 1)
                .unwrap_or_default();
            let mut names: Vec<Address> =
                cycle.iter().map(|ix| graph[*ix].address.clone()).collect();
            names.sort();
            if let Some(first) = names.first().cloned() {
                names.push(first);
            }
            GraphError::Cycle(names)
        })?;
        Ok(StackGraph {
            graph,
            index,
            order,
        })
    }

    /// Specs in creation order (every resource after its dependencies).
    pub fn in_order(&self) -> impl Iterator<Item = &ResourceSpec> {
        self.order.iter().map(|ix| &self.graph[*ix])
    }

    /// The spec at `address`, if the stack has it.
    pub fn get(&self, address: &Address) -> Option<&ResourceSpec> {
        self.index.get(address).map(|ix| &self.graph[*ix])
    }

    /// How many resources the stack has.
    pub fn len(&self) -> usize {
        self.graph.node_count()
    }

    /// Whether the stack has no resource at all.
    pub fn is_empty(&self) -> bool {
        self.graph.node_count() == 0
    }

    /// Direct dependencies of `address`.
    pub fn dependencies(&self, address: &Address) -> Vec<Address> {
        self.get(address)
            .map(ResourceSpec::dependencies)
            .unwrap_or_default()
    }

    /// Graphviz DOT, one cluster per region.
    pub fn to_dot(&self) -> String {
        let mut by_scope: BTreeMap<String, Vec<&ResourceSpec>> = BTreeMap::new();
        for spec in self.in_order() {
            let scope = spec.region.clone().unwrap_or_else(|| "global".into());
            by_scope.entry(scope).or_default().push(spec);
        }
        let mut out =
            String::from("digraph drctl {\n  rankdir=LR;\n  node [shape=box, fontsize=10];\n");
        for (i, (scope, specs)) in by_scope.iter().enumerate() {
            out.push_str(&format!(
                "  subgraph cluster_{i} {{\n    label=\"{scope}\";\n"
            ));
            for s in specs {
                out.push_str(&format!(
                    "    \"{}\" [label=\"{}\\n{}\"];\n",
                    s.address, s.address, s.kind
                ));
            }
            out.push_str("  }\n");
        }
        for e in self.graph.edge_indices() {
            if let Some((a, b)) = self.graph.edge_endpoints(e) {
                out.push_str(&format!(
                    "  \"{}\" -> \"{}\";\n",
                    self.graph[a].address, self.graph[b].address
                ));
            }
        }
        out.push_str("}\n");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::spec;

    #[test]
    fn orders_dependencies_first() {
        let g = StackGraph::build(vec![
            spec("r/b", &["r/a"]),
            spec("r/a", &[]),
            spec("r/c", &["r/b", "r/a"]),
        ])
        .unwrap();
        let order: Vec<_> = g.in_order().map(|s| s.address.0.clone()).collect();
        assert_eq!(order, vec!["r/a", "r/b", "r/c"]);
        assert!(g.to_dot().contains("\"r/a\" -> \"r/b\""));
    }

    #[test]
    fn cycle_is_named() {
        let err =
            StackGraph::build(vec![spec("r/a", &["r/b"]), spec("r/b", &["r/a"])]).unwrap_err();
        assert_eq!(err.to_string(), "dependency cycle: r/a -> r/b -> r/a");
    }

    #[test]
    fn unknown_dependency_and_duplicates_are_errors() {
        let err = StackGraph::build(vec![spec("r/a", &["r/zz"])]).unwrap_err();
        assert!(err.to_string().contains("r/zz"));
        let err = StackGraph::build(vec![spec("r/a", &[]), spec("r/a", &[])]).unwrap_err();
        assert_eq!(err, GraphError::DuplicateAddress(Address::new("r/a")));
    }
}
