//! `runOn*` hooks: external commands run when something happens to a path, as MediaMTX runs
//! them.
//!
//! - The command line is split like a POSIX shell would (quotes, backslashes) without running a
//!   shell; `$VAR` and `${VAR}` in the arguments are replaced by the hook's variables
//!   (`MTX_PATH`, `RTSP_PORT`, `G1`…), which are also in the command's environment, on top of
//!   the server's.
//! - A [`Hook`] lasts as long as what it is about (a stream available, a reader reading): when
//!   it is dropped, its command's whole process group gets SIGINT, then SIGKILL after
//!   [`KILL_AFTER`] if it is still there. With `…Restart: yes` a command that exits is started
//!   again after [`RESTART_PAUSE`], as MediaMTX does, so a crash-looping hook costs one start
//!   every 5 s, never a busy loop.
//! - [`run_detached`] runs a command that nothing waits for (`runOnUnavailable`, `runOnUnread`).
//! - [`on_connect`] runs the global `runOnConnect` while a client connection is open, then
//!   `runOnDisconnect`.
//!
//! A hook never blocks or fails the server: a command that cannot start, hangs or crashes is
//! logged with its path.

use std::time::Duration;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::process::{Child, Command};
use tokio::sync::oneshot;

use crate::config::Config;

/// A restarting hook starts its command again this long after it exited (MediaMTX's pause).
pub(crate) const RESTART_PAUSE: Duration = Duration::from_secs(5);
/// A command that ignores SIGINT this long is killed.
pub(crate) const KILL_AFTER: Duration = Duration::from_secs(5);

/// What a hook command gets: its variables (environment, and `$VAR` in its arguments).
pub(crate) type HookEnv = Vec<(String, String)>;

/// A running hook; dropping it stops the command (see the module docs).
pub(crate) struct Hook {
    stop: Option<oneshot::Sender<()>>,
}

impl Drop for Hook {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Starts `command` for `what` (e.g. `runOnAvailable of path cam1`, for the logs), restarting it
/// when it exits if `restart`. `None` for an empty command. Needs a tokio runtime.
pub(crate) fn start(command: &str, env: HookEnv, restart: bool, what: String) -> Option<Hook> {
    if command.trim().is_empty() || !has_runtime(&what) {
        return None;
    }
    let (stop, stopped) = oneshot::channel();
    tokio::spawn(supervise(command.to_owned(), env, restart, what, stopped));
    Some(Hook { stop: Some(stop) })
}

/// Runs `command` once, without stopping it later; it is reaped when it exits.
pub(crate) fn run_detached(command: &str, env: HookEnv, what: String) {
    if command.trim().is_empty() || !has_runtime(&what) {
        return;
    }
    let Some(mut child) = spawn(command, &env, &what) else {
        return;
    };
    tokio::spawn(async move {
        log_exit(&what, child.wait().await);
    });
}

/// `runOnConnect` of one client connection; dropping it stops the command and runs
/// `runOnDisconnect`, as MediaMTX does when a connection closes.
pub(crate) struct Connected {
    hook: Option<Hook>,
    disconnect: String,
    env: HookEnv,
}

impl Drop for Connected {
    fn drop(&mut self) {
        self.hook = None;
        let id = self.env.iter().find(|(k, _)| k == "MTX_CONN_ID");
        let what = format!("runOnDisconnect of conn {}", id.map_or("", |(_, v)| v));
        run_detached(&self.disconnect, std::mem::take(&mut self.env), what);
    }
}

/// Starts `runOnConnect` for the connection `conn_id` of type `conn_type` (MediaMTX's
/// `rtspConn`, `rtspsConn`…), with `MTX_CONN_TYPE`, `MTX_CONN_ID` and `RTSP_PORT`.
pub(crate) fn on_connect(config: &Config, conn_type: &str, conn_id: &str) -> Connected {
    let h = &config.conn_hooks;
    let env: HookEnv = vec![
        (
            "RTSP_PORT".to_owned(),
            rtsp_port(&config.rtsp_address).to_owned(),
        ),
        ("MTX_CONN_TYPE".to_owned(), conn_type.to_owned()),
        ("MTX_CONN_ID".to_owned(), conn_id.to_owned()),
    ];
    let what = format!("runOnConnect of conn {conn_id}");
    let hook = start(
        &h.run_on_connect,
        env.clone(),
        h.run_on_connect_restart,
        what,
    );
    Connected {
        hook,
        disconnect: h.run_on_disconnect.clone(),
        env,
    }
}

/// The port of `rtspAddress` (`:8554` → `8554`), as MediaMTX gives it in `RTSP_PORT`.
pub(crate) fn rtsp_port(rtsp_address: &str) -> &str {
    rtsp_address.rsplit(':').next().unwrap_or_default()
}

/// Whether hooks can run here (a tokio runtime); logs that `what` is skipped if not.
fn has_runtime(what: &str) -> bool {
    let ok = tokio::runtime::Handle::try_current().is_ok();
    if !ok {
        tracing::error!("{what}: not run: no async runtime");
    }
    ok
}

async fn supervise(
    command: String,
    env: HookEnv,
    restart: bool,
    what: String,
    mut stopped: oneshot::Receiver<()>,
) {
    loop {
        let Some(mut child) = spawn(&command, &env, &what) else {
            return;
        };
        tokio::select! {
            status = child.wait() => log_exit(&what, status),
            _ = &mut stopped => return terminate(child, &what).await,
        }
        if !restart {
            return;
        }
        tokio::select! {
            () = tokio::time::sleep(RESTART_PAUSE) => {}
            _ = &mut stopped => return,
        }
    }
}

/// Starts the command in a process group of its own; logs and gives `None` if it can't.
fn spawn(command: &str, env: &HookEnv, what: &str) -> Option<Child> {
    let argv = match split(command, env) {
        Ok(argv) => argv,
        Err(e) => {
            tracing::error!("{what}: can't run {command:?}: {e}");
            return None;
        }
    };
    let mut cmd = Command::new(&argv[0]);
    cmd.args(&argv[1..])
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    cmd.process_group(0);
    match cmd.spawn() {
        Ok(child) => {
            tracing::info!(
                "{what}: started {command:?} (pid {})",
                child.id().unwrap_or(0)
            );
            Some(child)
        }
        Err(e) => {
            tracing::error!("{what}: can't run {command:?}: {e}");
            None
        }
    }
}

/// SIGINT to the command's process group, then SIGKILL after [`KILL_AFTER`].
async fn terminate(mut child: Child, what: &str) {
    signal_group(&child, Signal::SIGINT);
    if tokio::time::timeout(KILL_AFTER, child.wait())
        .await
        .is_err()
    {
        tracing::warn!("{what}: the command ignored SIGINT for {KILL_AFTER:?}; killed");
        signal_group(&child, Signal::SIGKILL);
        let _ = child.kill().await;
    }
    tracing::info!("{what}: stopped");
}

/// Sends `signal` to the process group the hook's command leads (its children too).
fn signal_group(child: &Child, signal: Signal) {
    if let Some(pid) = child.id().and_then(|p| i32::try_from(p).ok()) {
        let _ = killpg(Pid::from_raw(pid), signal);
    }
}

fn log_exit(what: &str, status: std::io::Result<std::process::ExitStatus>) {
    match status {
        Ok(s) if s.success() => tracing::info!("{what}: the command exited"),
        Ok(s) => tracing::warn!("{what}: the command exited with {s}"),
        Err(e) => tracing::warn!("{what}: can't wait for the command: {e}"),
    }
}

/// The command line as arguments: split like a POSIX shell, `$VAR` / `${VAR}` replaced by the
/// hook's variables. An unclosed quote or an empty line is an error.
pub(crate) fn split(command: &str, env: &HookEnv) -> Result<Vec<String>, String> {
    let words = shlex::split(command).ok_or("unbalanced quotes or a trailing backslash")?;
    if words.is_empty() {
        return Err("the command is empty".to_owned());
    }
    Ok(words.iter().map(|w| expand(w, env)).collect())
}

/// Replaces `$NAME` and `${NAME}` of the hook's variables in `word`; other `$` stay.
fn expand(word: &str, env: &HookEnv) -> String {
    let mut out = word.to_owned();
    // Longest names first, so `$G1` does not eat the start of `$G10`.
    let mut vars: Vec<&(String, String)> = env.iter().collect();
    vars.sort_by_key(|(k, _)| std::cmp::Reverse(k.len()));
    for (k, v) in vars {
        out = out
            .replace(&format!("${{{k}}}"), v)
            .replace(&format!("${k}"), v);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> HookEnv {
        [("MTX_PATH", "cam1"), ("G1", "a"), ("G10", "j")]
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .to_vec()
    }

    #[test]
    fn command_lines_split_like_a_shell_and_expand_variables() {
        let argv = split(
            r#"ffmpeg -i "rtsp://h/$MTX_PATH" -f 'x y' ${G1}-$G10 $HOME"#,
            &env(),
        )
        .unwrap();
        assert_eq!(
            argv,
            ["ffmpeg", "-i", "rtsp://h/cam1", "-f", "x y", "a-j", "$HOME"]
        );
        assert!(split("echo \"open", &env()).is_err());
        assert!(split("   ", &env()).is_err());
    }

    #[tokio::test]
    async fn a_hook_runs_until_dropped_and_a_crash_loop_is_paced() {
        let dir = std::env::temp_dir().join(format!("vigia-hook-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let marker = dir.join("runs");
        let cmd = format!("sh -c 'echo $MTX_PATH >> {}; exit 3'", marker.display());
        let hook = start(&cmd, env(), true, "test hook".into()).unwrap();
        tokio::time::sleep(Duration::from_millis(500)).await;
        drop(hook);
        tokio::time::sleep(Duration::from_millis(200)).await;
        let runs = std::fs::read_to_string(&marker).unwrap_or_default();
        assert_eq!(runs, "cam1\n", "one start, then the 5 s pause");
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// The file's text once it exists (up to 2.5 s), else empty.
    async fn read_soon(file: &std::path::Path) -> String {
        for _ in 0..50 {
            match std::fs::read_to_string(file) {
                Ok(text) if text.ends_with('\n') => return text,
                _ => {}
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        String::new()
    }

    #[tokio::test]
    async fn a_connection_runs_on_connect_while_open_then_on_disconnect() {
        let dir = std::env::temp_dir().join(format!("vigia-hook-conn-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (up, down) = (dir.join("up"), dir.join("down"));
        let mut config = Config {
            rtsp_address: "127.0.0.1:8654".into(),
            ..Config::default()
        };
        config.conn_hooks.run_on_connect = format!(
            "sh -c 'echo $MTX_CONN_TYPE $MTX_CONN_ID $RTSP_PORT > {}; sleep 30'",
            up.display()
        );
        config.conn_hooks.run_on_disconnect =
            format!("sh -c 'echo $MTX_CONN_ID > {}'", down.display());
        let connected = on_connect(&config, "rtspConn", "c-1");
        assert_eq!(read_soon(&up).await, "rtspConn c-1 8654\n");
        assert!(!down.exists(), "still connected");
        drop(connected);
        assert_eq!(read_soon(&down).await, "c-1\n");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn dropping_a_hook_interrupts_its_command() {
        let dir = std::env::temp_dir().join(format!("vigia-hook-int-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (ready, stopped) = (dir.join("ready"), dir.join("stopped"));
        // As `vigia` does from its start (`main::shutdown_signals`): with a SIGINT handler in
        // this process, the command gets SIGINT's default disposition even when this test
        // binary was started with SIGINT ignored (in the background by a script), where the
        // shell's trap could not be set.
        let _sigint = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
            .expect("SIGINT handler");
        // The command says when its trap is set: a SIGINT before that would end the shell
        // without running the trap.
        let cmd = format!(
            "sh -c 'trap \"echo int > {}; exit 0\" INT; echo up > {}; \
             while true; do sleep 0.05; done'",
            stopped.display(),
            ready.display()
        );
        let hook = start(&cmd, env(), false, "test hook".into()).unwrap();
        assert_eq!(read_soon(&ready).await, "up\n", "the command started");
        drop(hook);
        assert_eq!(read_soon(&stopped).await, "int\n", "the command got SIGINT");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
