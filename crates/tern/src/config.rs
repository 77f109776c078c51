//! The CLI's per-user login (`tern login`/`logout`): the control plane's URL and an API token,
//! kept in `CONFIG_DIR/tern/config.toml` (mode 0600), and the order in which commands pick
//! them up: flags, then TERN_API_URL/TERN_API_TOKEN, then that file.

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The largest config file read; a real one is a few hundred bytes.
const MAX_CONFIG_BYTES: u64 = 64 * 1024;

/// What `tern login` stores.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct Login {
    pub(crate) api_url: String,
    pub(crate) token: String,
}

/// `CONFIG_DIR/tern/config.toml` (`$XDG_CONFIG_HOME` or `~/.config` on Linux).
pub(crate) fn path() -> anyhow::Result<PathBuf> {
    let Some(dir) = dirs::config_dir() else {
        bail!("no per-user configuration folder (HOME is not set): pass --api-url and --token, or set TERN_API_URL and TERN_API_TOKEN");
    };
    Ok(dir.join("tern").join("config.toml"))
}

/// The stored login, if any.
pub(crate) fn load() -> anyhow::Result<Option<Login>> {
    let path = path()?;
    let text = match read_bounded(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let login = toml::from_str(&text)
        .with_context(|| format!("{} is not a valid tern config: run `tern login` again", path.display()))?;
    Ok(Some(login))
}

fn read_bounded(path: &Path) -> std::io::Result<String> {
    use std::io::Read;
    let mut text = String::new();
    std::fs::File::open(path)?.take(MAX_CONFIG_BYTES).read_to_string(&mut text)?;
    Ok(text)
}

/// Writes the login readable by the user only; returns the file's path.
pub(crate) fn save(login: &Login) -> anyhow::Result<PathBuf> {
    let path = path()?;
    let dir = path.parent().context("config path has a folder")?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let text = toml::to_string(login)?;
    // A fresh temporary file gets mode 0600 at creation (an existing file would keep its
    // mode), so the token is never readable by others, not even for a moment; the rename
    // then replaces the old file whole.
    let tmp = dir.join("config.toml.tmp");
    let _ = std::fs::remove_file(&tmp);
    write_new_private(&tmp, &text).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, &path).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

fn write_new_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut file = opts.open(path)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()
}

/// Removes the stored login; returns the removed file's path, `None` if there was none.
pub(crate) fn remove() -> anyhow::Result<Option<PathBuf>> {
    let path = path()?;
    match std::fs::remove_file(&path) {
        Ok(()) => Ok(Some(path)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("removing {}", path.display())),
    }
}

/// The URL and token a command uses: each one from its flag or variable (`given`), else from
/// the stored login.
pub(crate) fn resolve(given_url: Option<&str>, given_token: Option<&str>) -> anyhow::Result<Login> {
    let nonempty = |s: Option<&str>| s.filter(|s| !s.is_empty()).map(String::from);
    let (url, token) = (nonempty(given_url), nonempty(given_token));
    let stored = if url.is_none() || token.is_none() { load()? } else { None };
    let token = token.or_else(|| stored.as_ref().map(|s| s.token.clone()));
    let url = url.or_else(|| stored.as_ref().map(|s| s.api_url.clone()));
    match (url, token) {
        (Some(api_url), Some(token)) => Ok(Login { api_url, token }),
        (_, None) => {
            bail!("not logged in: run `tern login` or set TERN_API_TOKEN (and TERN_API_URL; `tern dev` prints both)")
        }
        (None, Some(_)) => {
            bail!("no control plane URL: run `tern login`, set TERN_API_URL or pass --api-url (`tern dev` prints it)")
        }
    }
}

/// The control plane `tern dev` starts by default.
const DEV_API_URL: &str = "http://127.0.0.1:7399";

#[derive(clap::Args)]
pub struct LoginArgs {
    /// The control plane's URL (default: TERN_API_URL, the stored one, or http://127.0.0.1:7399,
    /// where `tern dev` listens).
    #[arg(long)]
    api_url: Option<String>,
    /// An API token of your org (`tern dev` prints it as TERN_API_TOKEN); asked for on a terminal.
    #[arg(long)]
    token: Option<String>,
}

/// `tern login`: asks for what is missing, checks the token against the API, then stores both.
pub fn login(a: LoginArgs) -> anyhow::Result<()> {
    use crate::prompt::{self, Interaction};
    let ui = Interaction::detect();
    let default_url = match std::env::var("TERN_API_URL").ok().filter(|u| !u.is_empty()) {
        Some(url) => url,
        None => load().ok().flatten().map(|l| l.api_url).unwrap_or_else(|| DEV_API_URL.to_string()),
    };
    let api_url = match (a.api_url, ui) {
        (Some(url), _) => url,
        (None, Interaction::Prompt) => prompt::text_with_default("Control plane URL", &default_url)?,
        (None, Interaction::NoPrompt) => default_url,
    };
    let token = match (a.token.filter(|t| !t.is_empty()), ui) {
        (Some(token), _) => token,
        (None, Interaction::Prompt) => prompt::secret("API token (`tern dev` prints it as TERN_API_TOKEN)")?,
        (None, Interaction::NoPrompt) => {
            bail!("missing --token: an API token of your org (`tern dev` prints it as TERN_API_TOKEN)")
        }
    };
    let login = Login { api_url: api_url.trim_end_matches('/').to_string(), token };
    let client = crate::client::Client::from_login(&login);
    let orgs: Vec<control_api::Org> = client.get("/v1/orgs").context("checking the token (nothing was saved)")?;
    let path = save(&login)?;
    let names: Vec<&str> = orgs.iter().map(|o| o.name.as_str()).collect();
    println!("Logged in to {} (org {}).", login.api_url, names.join(", "));
    println!("Saved in {}; commands use it unless --token/TERN_API_TOKEN say otherwise.", path.display());
    Ok(())
}

/// `tern logout`: forgets the stored login.
pub fn logout() -> anyhow::Result<()> {
    match remove()? {
        Some(path) => println!("Logged out (removed {}).", path.display()),
        None => println!("Not logged in (no {}).", path()?.display()),
    }
    Ok(())
}
