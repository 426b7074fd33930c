//! The router's routes together with the paths they were added at.
//!
//! Every route of the server is added through a [`RouteTable`], so the paths the router answers
//! are known without asking axum (which cannot list them): the OpenAPI test compares this list
//! with the document both ways (`tests/suite/openapi.rs`).

use axum::routing::MethodRouter;
use axum::Router;

/// A router that remembers each path it was given.
pub struct RouteTable<S> {
    router: Router<S>,
    paths: Vec<&'static str>,
}

impl<S: Clone + Send + Sync + 'static> Default for RouteTable<S> {
    fn default() -> Self {
        Self { router: Router::new(), paths: Vec::new() }
    }
}

impl<S: Clone + Send + Sync + 'static> RouteTable<S> {
    /// Adds `methods` at `path` (axum's syntax: `{name}`, `{*rest}`).
    pub fn route(mut self, path: &'static str, methods: MethodRouter<S>) -> Self {
        self.paths.push(path);
        self.router = self.router.route(path, methods);
        self
    }

    /// Adds every route of `other`, keeping its layers to itself.
    pub fn merge(mut self, other: RouteTable<S>) -> Self {
        self.paths.extend(other.paths);
        self.router = self.router.merge(other.router);
        self
    }

    /// Changes the router without adding routes (layers over all the routes so far).
    pub fn map(mut self, change: impl FnOnce(Router<S>) -> Router<S>) -> Self {
        self.router = change(self.router);
        self
    }

    /// The paths added, in axum's syntax.
    pub fn paths(&self) -> &[&'static str] {
        &self.paths
    }

    pub fn into_router(self) -> Router<S> {
        self.router
    }
}

/// A path in axum's syntax as an OpenAPI path template: `{*rest}` becomes `{rest}` (the document
/// says in the parameter that it spans segments).
pub fn openapi_path(axum_path: &str) -> String {
    axum_path.replace("{*", "{")
}
