//! Active checks: ask the server for the item list, run items on their schedule, buffer
//! and send values.
