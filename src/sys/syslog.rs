//! The system logger (`openlog`/`syslog`, facility daemon) behind safe functions. It owns
//! the calls only; what is logged and at which level is `crate::logging`'s.

/// A syslog priority, as `LogType=system` maps tracing's levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Priority {
    Err,
    Warning,
    Info,
    Debug,
}

impl Priority {
    fn raw(self) -> libc::c_int {
        match self {
            Priority::Err => libc::LOG_ERR,
            Priority::Warning => libc::LOG_WARNING,
            Priority::Info => libc::LOG_INFO,
            Priority::Debug => libc::LOG_DEBUG,
        }
    }
}

/// Opens the connection to the system logger now (`LOG_NDELAY`), with ident `zagent`,
/// the pid in each message and facility daemon. Once per process.
pub fn open() {
    static IDENT: &std::ffi::CStr = c"zagent";
    // SAFETY: openlog keeps the ident pointer; IDENT is a static NUL-terminated string.
    unsafe {
        libc::openlog(
            IDENT.as_ptr(),
            libc::LOG_PID | libc::LOG_NDELAY,
            libc::LOG_DAEMON,
        )
    };
}

/// Sends one message (NUL bytes, which would cut it, become spaces).
pub fn send(priority: Priority, line: &str) {
    let Ok(c) = std::ffi::CString::new(line.replace('\0', " ")) else {
        return;
    };
    // SAFETY: "%s" with one valid NUL-terminated string argument.
    unsafe { libc::syslog(priority.raw(), c"%s".as_ptr(), c.as_ptr()) };
}
