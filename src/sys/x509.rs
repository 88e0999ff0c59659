//! The one libcrypto call the `openssl` crate does not bind, behind a safe function:
//! which RDN (SET) of an X.509 name an entry belongs to. It owns the call only; the
//! name's text is `tls::dn`'s.

use foreign_types::ForeignTypeRef;
use openssl::x509::X509NameEntryRef;

extern "C" {
    // Part of libcrypto's stable API (OpenSSL 1.1.0+); the openssl crates do not bind it.
    fn X509_NAME_ENTRY_set(ne: *const openssl_sys::X509_NAME_ENTRY) -> std::os::raw::c_int;
}

/// The index of the RDN (SET) `entry` belongs to: entries of a multi-valued RDN
/// (`OU=x+O=y`) share it.
pub fn rdn_index(entry: &X509NameEntryRef) -> i32 {
    // SAFETY: a read-only accessor on a live entry borrowed from its X509_NAME.
    unsafe { X509_NAME_ENTRY_set(entry.as_ptr()) }
}
