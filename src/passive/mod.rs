//! Passive checks: the listener, `Server=` access control, one request → one response.
