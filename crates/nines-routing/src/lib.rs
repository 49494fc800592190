//! Routing for nines: what happens to an alert after it fires. Matchers
//! in Alertmanager's syntax, the route tree that picks where an alert
//! goes and how it is grouped, time intervals that mute or activate a
//! route, silences, and inhibition rules.
//!
//! Domain rules only: no HTTP, no storage engine; silences are kept
//! behind a repository trait.

pub mod delivery;
pub mod dispatch;
pub mod inhibit;
pub mod interval;
pub mod matchers;
pub mod receiver;
pub mod route;
pub mod silence;
pub mod suppress;
pub mod template;
