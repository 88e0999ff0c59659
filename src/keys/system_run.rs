//! `system.run[command,<wait|nowait>]`: a shell command from the server.
//!
//! Owns the key's declaration and handler. Whether it may run at all is the access
//! rules' business ([`super::access`]): the implicit trailing `DenyKey=system.run[*]`
//! denies it unless an `AllowKey` admits it. Spawning is [`crate::exec`]'s.
//!
//! As zabbix_agentd 6.0: `wait` (the default) answers the trimmed output like a
//! UserParameter (no `UserParameterDir`, no unsafe-character check); `nowait` starts the
//! command detached and answers `1` at once. `LogRemoteCommands=1` logs every command at
//! warning level (`Executing command '…'`), otherwise at debug level.

use std::sync::Arc;

use super::{AgentCtx, BoxFuture, Handler, KeyDef, NotSupported, ParamDef, Params, Request, Value};

/// The `system.run` family.
pub const KEYS: &[KeyDef] = &[KeyDef {
    name: "system.run",
    description: "Run a shell command (denied unless AllowKey admits it).",
    params: Params::List(&[
        ParamDef::req("command"),
        ParamDef::one_of("<mode>", &["wait", "nowait"]),
    ]),
    test_key: "system.run[echo test]",
    handler: Handler::Async(system_run),
}];

fn system_run(ctx: Arc<AgentCtx>, req: Request) -> BoxFuture {
    Box::pin(async move {
        let command = req.param(0).to_string();
        if ctx.config.log_remote_commands {
            tracing::warn!("Executing command '{command}'");
        } else {
            tracing::debug!("Executing command '{command}'");
        }
        if req.param(1) == "nowait" {
            return match ctx.user.runner.spawn_detached(&command) {
                Ok(()) => Ok(Value::Uint(1)),
                Err(e) => {
                    tracing::warn!(command, error = %e, "Cannot start command");
                    Err(NotSupported::new("Cannot execute command."))
                }
            };
        }
        super::user::run_command(&ctx, &command, None, req.timeout).await
    })
}
